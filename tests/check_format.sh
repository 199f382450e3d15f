#!/usr/bin/env bash
# tests/check_format.sh — checks every tracked C/C++ file against .clang-format.
#
# Prints each file clang-format would change (and what it would change, with
# --verbose) and exits 1 if there is any; fix them with `clang-format -i FILE`.
# Run by the `lint` configuration of tests/run.sh.
#
# Usage: tests/check_format.sh [--verbose]
# Environment: CLANG_FORMAT (default: clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
verbose=0
[ "${1:-}" = --verbose ] && verbose=1

if ! command -v "$clang_format" > /dev/null; then
  echo "tests/check_format.sh: $clang_format not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi

bad=()
checked=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue  # deleted in the work tree, not yet in the index
  checked=$((checked + 1))
  if ! "$clang_format" --dry-run --Werror "$f" > /dev/null 2>&1; then
    bad+=("$f")
    [ "$verbose" -eq 1 ] && { "$clang_format" --dry-run "$f" 2>&1 | head -40 || true; }
  fi
done < <(git ls-files -z '*.hpp' '*.cpp' '*.h' '*.c')

if [ ${#bad[@]} -gt 0 ]; then
  echo "== check_format: ${#bad[@]} of $checked files are not formatted ($("$clang_format" --version | head -1)):"
  printf '  %s\n' "${bad[@]}"
  echo "   fix: clang-format -i <file>   (see what changes: tests/check_format.sh --verbose)"
  exit 1
fi
echo "== check_format: all $checked files formatted"
