#!/usr/bin/env bash
# tests/run_clang_tidy.sh — runs clang-tidy (.clang-tidy's curated checks,
# warnings as errors) over every jiffy header and the examples.
#
# The headers are checked through one translation unit that includes them
# all (they are templates and inline functions: the examples instantiate
# them), with HeaderFilterRegex limiting reports to include/jiffy/. Run by
# the `lint` configuration of tests/run.sh; exits 1 on any finding.
#
# Usage: tests/run_clang_tidy.sh
# Environment: CLANG_TIDY (default: clang-tidy).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_tidy=${CLANG_TIDY:-clang-tidy}
if ! command -v "$clang_tidy" > /dev/null; then
  echo "tests/run_clang_tidy.sh: $clang_tidy not found (Debian: apt-get install clang-tidy)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  for h in $(cd include && git ls-files 'jiffy/*.hpp' | grep -v '^jiffy/detail/'); do echo "#include <$h>"; done
  echo "int main() {}"
} > "$work/all_headers.cpp"

sources=("$work/all_headers.cpp" $(git ls-files 'examples/*.cpp'))
status=0
for s in "${sources[@]}"; do
  if ! "$clang_tidy" --quiet "$s" -- -std=c++20 -x c++ -Iinclude -Iexamples > "$work/out" 2>&1; then
    status=1
    grep -E "(warning|error):" "$work/out" | sort -u
  fi
done
if [ "$status" -ne 0 ]; then
  echo "== clang-tidy: findings above ($("$clang_tidy" --version | grep -m1 version))"
  exit 1
fi
echo "== clang-tidy: ${#sources[@]} translation units clean (every header, the examples)"
