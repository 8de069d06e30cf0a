#!/usr/bin/env bash
# A golden test pointed at a folder without cases must fail, not pass on nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
if PROXIMA_GOLDEN_DIR=$empty swift test --skip-build --filter "OptimizerGoldenTests|GoldenReplayTests|PreferenceObjectiveGoldenTests|PreferenceObjectiveDispatchTests|RejectionSamplingTests" > "$empty/log" 2>&1; then
  echo "no_cases_fail: the golden tests passed with PROXIMA_GOLDEN_DIR=$empty" >&2
  tail -20 "$empty/log" >&2
  exit 1
fi
grep -q "no golden cases in $empty" "$empty/log" || { echo "no_cases_fail: failed without naming the empty folder" >&2; tail -20 "$empty/log" >&2; exit 1; }
# The fixture folders likewise: empty PEFT, reward and HF folders make their tests fail, naming the missing case.
for variable in PROXIMA_PEFT_FIXTURES:LoRATests PROXIMA_REWARD_FIXTURES:ScoreHeadTests PROXIMA_HF_FIXTURES:ChatTemplateFixtureTests; do
  name=${variable%%:*} suite=${variable#*:}
  if env "$name=$empty" swift test --skip-build --filter "$suite" > "$empty/log" 2>&1; then
    echo "no_cases_fail: $suite passed with $name=$empty" >&2; tail -20 "$empty/log" >&2; exit 1
  fi
  grep -q "NO-" "$empty/log" || { echo "no_cases_fail: $suite failed without naming the missing cases" >&2; tail -20 "$empty/log" >&2; exit 1; }
done
echo "no_cases_fail: passed (the golden and fixture tests fail on empty folders and name them)"
