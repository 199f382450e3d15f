#!/bin/sh
# bench/compare.sh — runs jiffy_bench_core (5 repetitions, aggregates only)
# and prints the jiffy/reference ratio table (bench/ratios.py).
#
# Usage: bench/compare.sh [path/to/jiffy_bench_core] [more benchmark flags...]
# The default binary is the one the "release" CMake preset builds.
# Exit status: that of ratios.py (1 when a target was missed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/release/bench/jiffy_bench_core}
[ $# -gt 0 ] && shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json "$@"
echo
python3 "$here/ratios.py" "$out"
