#!/bin/sh
# bench/latency.sh — wake-up lateness of a 2 ms sleeper among 3 CPU hogs on
# one CPU, on jiffy (each preemption mode), Go's runtime and OS threads,
# measured in one run, printed as one markdown table.
#
# Usage: bench/latency.sh [build/bench dir]
#   Environment: SECONDS_PER_RUN (default 3), WAKEUPS (default 1000),
#                QUANTUM_US (jiffy's quantum, default 1000),
#                GO (the go command, default `go`; the Go row is skipped with
#                a note when it is not installed).
#
# Rows (each run ends after WAKEUPS wake-ups or SECONDS_PER_RUN seconds):
#   jiffy full                   preempt_latency --mode full
#   jiffy voluntary              --mode voluntary; the hogs have no
#                                preemption point, so this is `none`
#   jiffy voluntary+cond_resched --mode voluntary --cond-resched: the hogs
#                                call jiffy::cond_resched() every iteration
#   jiffy none                   --mode none
#   jiffy full, hogs call now()  --mode full --hog-work clock: each hog
#                                iteration also reads steady_clock: a call
#                                through libc (not an async-safe point: a
#                                signal landing there is deferred) into the
#                                vDSO (an async-safe point)
#   Go                           bench/go/latency, GOMAXPROCS=1 (built here
#                                with `go build`, standard library only,
#                                GOPROXY=off: no download)
#   OS threads                   threads_latency under `taskset -c 0`
# jiffy and Go are not pinned: their one worker / one P competes with nothing
# but the hogs, and their helper threads (jiffy's monitor, Go's sysmon) may
# use the other CPU, as they would in a program. A starved sleeper shows as
# a single wake-up about SECONDS_PER_RUN late.
# Build first: cmake --preset release && cmake --build --preset release -j2 \
#   --target preempt_latency threads_latency
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/release/bench}
bin=$(cd "$bin" && pwd)  # absolute: the Go build below runs from its own directory
secs=${SECONDS_PER_RUN:-3}
wakeups=${WAKEUPS:-1000}
quantum=${QUANTUM_US:-1000}
go_cmd=${GO:-go}

for p in preempt_latency threads_latency; do
  if [ ! -x "$bin/$p" ]; then
    echo "latency.sh: $bin/$p not found; build it first (see the header of this script)" >&2
    exit 1
  fi
done

notes=""
go_bin=""
if command -v "$go_cmd" >/dev/null 2>&1; then
  # Standard library only: a go.mod without requirements, and no proxy, so
  # the build can never reach the network.
  if (cd "$here/go/latency" &&
      GOFLAGS=-mod=mod GO111MODULE=on GOPROXY=off GOSUMDB=off \
      GOCACHE=${GOCACHE:-$bin/go-cache} "$go_cmd" build -o "$bin/go_latency" .) >&2; then
    go_bin=$bin/go_latency
  else
    notes="$notes
- Go: \`go build\` failed; row skipped."
  fi
else
  notes="$notes
- Go: \`$go_cmd\` is not installed; row skipped."
fi

taskset_cmd=""
if command -v taskset >/dev/null 2>&1; then
  taskset_cmd="taskset -c 0"
else
  notes="$notes
- OS threads: taskset not found, threads NOT pinned to one CPU."
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# CPU time of the whole machine over the runs, to tell a disturbed run: the
# benchmarks themselves keep about one CPU busy.
cpu_stat() { awk '/^cpu /{ print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat 2>/dev/null || echo "0 0"; }
stat_before=$(cpu_stat)
common="--seconds $secs --wakeups $wakeups"
run() {  # label, command...
  label=$1
  shift
  echo "running: $label" >&2
  "$@" >>"$out"
}
run "jiffy full" "$bin/preempt_latency" --mode full --quantum-us "$quantum" $common --csv \
  --label "jiffy full (quantum $quantum us)"
run "jiffy voluntary" "$bin/preempt_latency" --mode voluntary --quantum-us "$quantum" $common --csv \
  --label "jiffy voluntary (hogs without cond_resched)"
run "jiffy voluntary+cond_resched" "$bin/preempt_latency" --mode voluntary --cond-resched --quantum-us "$quantum" \
  $common --csv --label "jiffy voluntary (hogs call cond_resched)"
run "jiffy none" "$bin/preempt_latency" --mode none --quantum-us "$quantum" $common --csv --label "jiffy none"
run "jiffy full, hogs call now()" "$bin/preempt_latency" --mode full --hog-work clock --quantum-us "$quantum" \
  $common --csv --label "jiffy full (hogs call steady_clock::now())"
if [ -n "$go_bin" ]; then
  go_version=$("$go_cmd" env GOVERSION 2>/dev/null || echo go)
  run "Go" env GOMAXPROCS=1 "$go_bin" -procs 1 -seconds "$secs" -wakeups "$wakeups" -format csv \
    -label "Go ($go_version) GOMAXPROCS=1"
fi
run "OS threads" $taskset_cmd "$bin/threads_latency" $common --csv --label "OS threads (taskset -c 0)"

stat_after=$(cpu_stat)
busy=$(echo "$stat_before $stat_after" | awk '{ t = $4 - $2; if (t > 0) printf "%.0f", 100 - ($3 - $1) * 100 / t; else print "?" }')

echo
echo "Wake-up lateness of a goroutine/fiber/thread sleeping 2 ms among 3 never-yielding CPU hogs on one CPU"
echo "($secs s or $wakeups wake-ups per row; lateness = actual wake time - intended;"
echo " all CPUs were ${busy}% busy during the runs, of $(getconf _NPROCESSORS_ONLN) CPUs; about one CPU is the benchmark's own)"
echo
awk -F, -v q="$quantum" '
BEGIN {
  print "| runtime | wake-ups | p50 lateness | p99 lateness | max lateness | counters |"
  print "|---|---:|---:|---:|---:|---|"
}
function ms(us) { return sprintf("%.3f ms", us / 1000) }
{
  extra = $7
  if ($1 ~ /^jiffy/) gsub(/ /, ", ", extra); else extra = ""
  printf "| %s | %d | %s | %s | %s | %s |\n", $1, $2, ms($3), ms($4), ms($5), extra
  if ($1 ~ /^jiffy full \(quantum/) { full_p99 = $4; have_full = 1 }
}
END {
  if (have_full) {
    limit = q + 500
    printf "\nTarget (jiffy full): p99 <= 1 quantum + 0.5 ms = %.3f ms: p99 %.3f ms, %s\n", limit / 1000,
      full_p99 / 1000, (full_p99 <= limit ? "met" : "NOT met")
  }
}' "$out"
if [ -n "$notes" ]; then
  echo
  echo "Notes:$notes"
fi
