#!/usr/bin/env bash
# bench/skynet.sh — skynet (a tree of 1,111,111 fibers or goroutines summing
# 1,000,000 leaves' numbers) in jiffy (bench/skynet.cpp) and in Go
# (bench/go/skynet, built here with `go build`, standard library only,
# GOPROXY=off: nothing is downloaded), on the same number of OS threads, in
# one run; prints each one's median and the ratio jiffy / Go.
#
# Usage: bench/skynet.sh [threads] [runs]     (defaults: 2, 5)
# Environment: BUILD (build dir with bench/skynet, default build/release;
# built with the release preset if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
runs=${2:-5}
build=${BUILD:-build/release}
if [ ! -x "$build/bench/skynet" ]; then
  cmake --preset release > /dev/null
  cmake --build --preset release --target skynet -j2 > /dev/null
fi
command -v go > /dev/null || { echo "skynet.sh: go not found (Debian: golang-go)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd bench/go/skynet &&
  GOFLAGS=-mod=mod GO111MODULE=on GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
  GOCACHE=$tmp/go-cache GOPATH=$tmp/go-path go build -o "$tmp/go_skynet" .)
jiffy_out=$("$build/bench/skynet" --workers "$threads" --runs "$runs")
go_out=$(GOMAXPROCS=$threads "$tmp/go_skynet" -runs "$runs")
echo "$jiffy_out"
echo "$go_out"
j=$(echo "$jiffy_out" | sed -n 's/^median: \([0-9.]*\) ms.*/\1/p')
g=$(echo "$go_out" | sed -n 's/^median: \([0-9.]*\) ms.*/\1/p')
awk -v j="$j" -v g="$g" 'BEGIN { printf "jiffy / Go: %.2f (target <= 1.0)\n", j / g }'
