#!/usr/bin/env bash
# The downstream example: Examples/LibraryQuickstart depends on this checkout by relative path, trains PPO on
# CartPole and on an environment it defines, saves and reloads the CartPole policy. Its last line is JSON; CartPole
# must reach 475 and the reloaded policy must evaluate exactly as the trained one.
set -euo pipefail
cd "$(dirname "$0")/../../Examples/LibraryQuickstart"
swift build -c release
output=$(swift run -c release --skip-build LibraryQuickstart)
echo "$output"
python3 - "$(echo "$output" | tail -n 1)" <<'PY'
import json, sys
result = json.loads(sys.argv[1])
assert set(result) == {"cartpole_mean_return", "custom_env_mean_return", "reloaded_mean_return"}, result
assert result["cartpole_mean_return"] >= 475, f"CartPole mean return {result['cartpole_mean_return']} < 475"
assert result["reloaded_mean_return"] == result["cartpole_mean_return"], "the reloaded policy evaluates differently"
print("library_quickstart: passed")
PY
