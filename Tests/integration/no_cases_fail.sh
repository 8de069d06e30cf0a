#!/usr/bin/env bash
# A golden test pointed at a folder without cases must fail, not pass on nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
if PROXIMA_GOLDEN_DIR=$empty swift test --skip-build --filter "OptimizerGoldenTests|GoldenReplayTests" > "$empty/log" 2>&1; then
  echo "no_cases_fail: the golden tests passed with PROXIMA_GOLDEN_DIR=$empty" >&2
  tail -20 "$empty/log" >&2
  exit 1
fi
grep -q "no golden cases in $empty" "$empty/log" || { echo "no_cases_fail: failed without naming the empty folder" >&2; tail -20 "$empty/log" >&2; exit 1; }
echo "no_cases_fail: passed (the golden tests fail on an empty folder and name it)"
