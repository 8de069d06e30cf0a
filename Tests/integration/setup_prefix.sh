#!/usr/bin/env bash
# scripts/setup's non-root path, run into a temporary prefix (reusing the cached wheels): the pkg-config file and the
# printed export line must let a C++ program build against and load the pinned libtorch; a second run only checks; a
# fetch that cannot reach PyPI fails with a clear message and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

out=$(scripts/setup --prefix "$work/prefix")
echo "$out" | sed 's/^/  /'
grep -q "installed libtorch 2.15.0 in $work/prefix/libtorch-2.15.0\|libtorch 2.15.0 is installed in" <<<"$out"
export_line=$(grep '^export PKG_CONFIG_PATH=' <<<"$out") || { echo "setup_prefix: no export line printed" >&2; exit 1; }
eval "$export_line"

cat > "$work/version.cpp" <<'CPP'
#include <ATen/ATen.h>
#include <torch/version.h>
#include <iostream>
int main() {
  const auto x = at::arange(6, at::kFloat).reshape({2, 3});
  std::cout << TORCH_VERSION << " " << x.sum().item<float>() << "\n";
}
CPP
# shellcheck disable=SC2046
clang++ -std=c++20 -O0 "$work/version.cpp" $(pkg-config --cflags --libs proxima-libtorch) -o "$work/version"
result=$(env -u LD_PRELOAD "$work/version")
[[ $result == "2.15.0 15" ]] || { echo "setup_prefix: the test program printed '$result'" >&2; exit 1; }
# ldd's output is captured first: under pipefail, `ldd | grep -q` fails whenever grep's early exit makes ldd die of
# SIGPIPE, which is what broke one CI run although the path was right.
loaded=$(ldd "$work/version")
grep -qF "$work/prefix/libtorch-2.15.0/lib/libtorch_cpu.so" <<<"$loaded" \
  || { echo "setup_prefix: the program did not load the prefix's libtorch_cpu.so" >&2; echo "$loaded" >&2; exit 1; }

again=$(scripts/setup --prefix "$work/prefix")
grep -q "libtorch 2.15.0 is installed in" <<<"$again" || { echo "setup_prefix: the second run reinstalled: $again" >&2; exit 1; }

# An empty cache and an unreachable index: a clear error, and the existing install is untouched.
if failed=$(PROXIMA_CACHE="$work/empty-cache" PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0 PIP_TIMEOUT=2 \
    scripts/setup --prefix "$work/other" 2>&1); then
  echo "setup_prefix: setup succeeded without an index" >&2; exit 1
fi
grep -q "could not fetch torch==2.15.0 from PyPI" <<<"$failed" || { echo "setup_prefix: unclear failure: $failed" >&2; exit 1; }
[[ ! -e $work/other/libtorch-2.15.0 ]] || { echo "setup_prefix: a failed fetch left a prefix behind" >&2; exit 1; }
echo "setup_prefix: passed"
