#!/usr/bin/env bash
# bench/http_bench.sh — jiffy's HTTP example server against Go's net/http, in
# one run on one machine:
#
#  a. /hello throughput and latency: wrk, closed loop, WRK_CONNECTIONS
#     keep-alive connections (default 16) from WRK_THREADS threads (default
#     2), WRK_SECONDS (default 8) per run after a 1 s warm-up, against
#       jiffy  examples/http_server --workers 2 --preempt none
#       jiffy  examples/http_server --workers 2 --preempt full --quantum-us 1000
#       Go     bench/go/http_hello -procs 2 (GOMAXPROCS=2)
#  b. Tiny requests beside heavy ones: bench/http_load (open loop, MIX_RATE
#     req/s, default 2000, for MIX_SECONDS, default 10, after a 1 s warm-up;
#     1 request in HEAVY_EVERY, default 100, chosen at random with a fixed
#     seed, is /work?ms=HEAVY_MS, default 20, on its own connections; the
#     /hello latency runs from each request's intended send time) against
#       jiffy  --workers 2 --preempt none | voluntary | full, --quantum-us QUANTUM_US (default 1000)
#       Go     -procs 2
#     Why 2000 req/s: the heavy requests then ask for 2000/100 x 20 ms = 0.4
#     CPU-seconds per second, a fifth of the 2 CPUs; /hello requests, the
#     client and wrk's absence leave most of the rest idle. The server is
#     never saturated, but heavy requests arrive at random, so two of them
#     sometimes run at once and occupy both workers: the case preemption is
#     for. (At 2000 req/s about 6% of the time has two or more in progress.)
#     The load client runs under SCHED_FIFO (chrt -f) when allowed, so the
#     server's busy threads cannot delay its sends and reads: its own send lag
#     is reported and stays far below the latencies measured.
#  c. /hello beside heavy requests, closed loop (PHASES including "closed"):
#     bench/http_closed_loop, CLOSED_CONNECTIONS (default 16) keep-alive
#     connections each sending its next request as soon as the last one was
#     answered, 1 in HEAVY_EVERY /work?ms=HEAVY_MS, CLOSED_SECONDS (default
#     10) after 1 s of warm-up: the server is saturated, and a /hello that
#     becomes ready while the workers compute waits unless they are
#     preempted. Against jiffy none | full | lazy and Go.
#  d. Every configuration runs once per round, ROUNDS rounds (default 3),
#     interleaved, each server started fresh for its run and stopped after
#     (SIGTERM; a non-zero exit is reported). Medians over the rounds with
#     the min-max spread are printed as markdown tables, with ratios, and
#     the /hello latency curves of the mixed load are drawn to SVG (default
#     docs/http_latency.svg) by bench/plot_http_latency.py.
#
# Usage: bench/http_bench.sh            (from anywhere in the repository)
#   Environment: ROUNDS, WRK_SECONDS, WRK_CONNECTIONS, WRK_THREADS, MIX_RATE,
#   MIX_SECONDS, HEAVY_EVERY, HEAVY_MS, CLOSED_CONNECTIONS, CLOSED_SECONDS, QUANTUM_US, WORKERS (server workers /
#   GOMAXPROCS, default 2), SVG (output path; empty: no plot), OUT (raw
#   results directory, default build/release/http_bench), WAIT_QUIET (before
#   each run, wait up to this many seconds, default 0, for the machine's
#   other load to fall under 10% of a CPU), SKIP_BUILD=1, PHASES ("wrk mix"),
#   (PHASES default "wrk mix"; "wrk mix closed" adds c.)
#   JIFFY_SERVER (another http_server binary to measure, e.g. one built
#   against modified headers; default: the release preset's).
#
# Installs wrk and golang-go from Debian when missing (root or sudo), builds
# the release preset's http_server and http_load, and the Go server with
# `go build` (standard library only, GOPROXY=off: nothing is downloaded).
# Every server started is stopped on exit, whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rounds=${ROUNDS:-3}
wrk_seconds=${WRK_SECONDS:-8}
wrk_conns=${WRK_CONNECTIONS:-16}
wrk_threads=${WRK_THREADS:-2}
mix_rate=${MIX_RATE:-2000}
mix_seconds=${MIX_SECONDS:-10}
heavy_every=${HEAVY_EVERY:-100}
heavy_ms=${HEAVY_MS:-20}
closed_conns=${CLOSED_CONNECTIONS:-16}
closed_seconds=${CLOSED_SECONDS:-10}
quantum=${QUANTUM_US:-1000}
workers=${WORKERS:-2}
svg=${SVG-docs/http_latency.svg}
out=${OUT:-build/release/http_bench}
wait_quiet=${WAIT_QUIET:-0}
phases=${PHASES:-wrk mix}

# ------------------------------------------------------------ packages ----
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing missing Debian packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --------------------------------------------------------------- build ----
bin=build/release
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== building (release preset): http_server http_load" >&2
  cmake --preset release >/dev/null
  cmake --build --preset release --target http_server http_load http_closed_loop -j2 >&2
fi
server=${JIFFY_SERVER:-$root/$bin/examples/http_server}
load=$root/$bin/bench/http_load
closed_load=$root/$bin/bench/http_closed_loop
for p in "$server" "$load" "$closed_load"; do
  [ -x "$p" ] || { echo "http_bench.sh: $p not found (build failed?)" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
go_server=$out/go_http_hello
echo "== building bench/go/http_hello with $(go version)" >&2
(cd bench/go/http_hello &&
  GOFLAGS=-mod=mod GO111MODULE=on GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
  GOCACHE=$out/go-cache GOPATH=$out/go-path go build -o "$go_server" .) >&2

# ---------------------------------------------------- servers and exit ----
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_pid=""
port=""
# start_server LOG CMD... : starts it, waits for "listening on ADDR:PORT".
start_server() {
  local log=$1
  shift
  : >"$log"  # exists before the background job opens it: the loop below reads it at once
  "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.025
  done
  echo "http_bench.sh: server did not start: $*" >&2
  cat "$log" >&2
  exit 1
}
# stop_server: SIGTERM, wait (5 s, then SIGKILL); a non-zero exit is noted.
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "http_bench.sh: server $server_pid ignored SIGTERM for 5 s; killed" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$server_pid" || rc=$?
  [ "$rc" -eq 0 ] || echo "http_bench.sh: server exited with status $rc after SIGTERM" >&2
  local keep=()
  for p in "${pids[@]}"; do [ "$p" = "$server_pid" ] || keep+=("$p"); done
  pids=("${keep[@]+"${keep[@]}"}")
}

# CPU time (clock ticks) of a process, and of the whole machine.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# busy idle steal
machine_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6, $9 }' /proc/stat; }
hz=$(getconf CLK_TCK)
ncpu=$(getconf _NPROCESSORS_ONLN)

# Busy fraction of the machine over $1 seconds, in % of one CPU.
busy_pct() {
  local a b
  a=$(machine_ticks)
  sleep "$1"
  b=$(machine_ticks)
  echo "$a $b $hz $1" | awk '{ printf "%.0f", ($4 - $1) * 100 / $7 / $8 }'
}

# Before each run: wait up to WAIT_QUIET seconds for the machine's load
# (nothing of ours runs then) to fall under 10% of a CPU.
wait_for_quiet() {
  [ "$wait_quiet" -gt 0 ] || return 0
  local end=$((SECONDS + wait_quiet)) b
  while :; do
    b=$(busy_pct 1)
    [ "$b" -lt 10 ] && return 0
    if [ $SECONDS -ge $end ]; then
      echo "   (machine still ${b}% of a CPU busy after waiting ${wait_quiet} s; measuring anyway)" >&2
      return 0
    fi
  done
}

# The load client's scheduling: SCHED_FIFO if allowed, else higher priority.
client_prefix=()
client_sched="SCHED_OTHER"
if chrt -f 10 true 2>/dev/null; then
  client_prefix=(chrt -f 10)
  client_sched="SCHED_FIFO (chrt -f 10)"
elif nice -n -10 true 2>/dev/null; then
  client_prefix=(nice -n -10)
  client_sched="nice -10"
fi

runs=$out/runs.jsonl
: >"$runs"
meta() {
  printf '{"phase": "meta", "date": "%s", "kernel": "%s", "cpus": %s, "cpu_model": "%s", "go": "%s", "wrk": "%s", ' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -r)" "$ncpu" \
    "$(awk -F': ' '/model name/{ print $2; exit }' /proc/cpuinfo | tr -d '"')" "$(go version | awk '{ print $3 }')" \
    "$(wrk --version 2>&1 | head -1 | awk '{ print $2 }')"
  printf '"loadavg": "%s", "idle_busy_pct": %s, "rounds": %s, "wrk_seconds": %s, "wrk_connections": %s, ' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(busy_pct 1)" "$rounds" "$wrk_seconds" "$wrk_conns"
  printf '"wrk_threads": %s, "mix_rate": %s, "mix_seconds": %s, "heavy_every": %s, "heavy_ms": %s, "quantum_us": %s, ' \
    "$wrk_threads" "$mix_rate" "$mix_seconds" "$heavy_every" "$heavy_ms" "$quantum"
  printf '"workers": %s, "client_sched": "%s"}\n' "$workers" "$client_sched"
}
meta >>"$runs"

# server_cmd CONFIG: the command line of a configuration's server.
server_cmd() {
  case "$1" in
    go) echo "env GOMAXPROCS=$workers $go_server -port 0 -procs $workers" ;;
    jiffy-*) echo "$server --port 0 --workers $workers --preempt ${1#jiffy-} --quantum-us $quantum" ;;
  esac
}

# wrk's latency figures ("99.00us", "1.23ms", "2.00s") in microseconds.
wrk_summary() {
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return (v + 0) * 1000
      if (v ~ /s$/) return (v + 0) * 1000000
      return v + 0
    }
    /^ +50%/ { p50 = us($2) }
    /^ +75%/ { p75 = us($2) }
    /^ +90%/ { p90 = us($2) }
    /^ +99%/ { p99 = us($2) }
    /^Requests\/sec:/ { rps = $2 }
    /^ +Latency / { mean = us($2); max = us($4) }
    /Socket errors:/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
    /Non-2xx/ { non2xx = $NF }
    END { printf "\"rps\": %.1f, \"p50_us\": %.1f, \"p75_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": %.1f, \"max_us\": %.1f, \"socket_errors\": %d, \"non2xx\": %d",
                 rps, p50, p75, p90, p99, mean, max, errs, non2xx }'
}

# One measured run: start the server, load it, record, stop it.
# run_one PHASE CONFIG ROUND
run_one() {
  local phase=$1 config=$2 round=$3
  local log=$out/$phase-$config-r$round
  wait_for_quiet
  # shellcheck disable=SC2046
  start_server "$log.server.log" $(server_cmd "$config")
  local url="http://127.0.0.1:$port"
  local m0 m1 s0 s1 c0
  if [ "$phase" = wrk ]; then
    wrk -t"$wrk_threads" -c"$wrk_conns" -d1s "$url/hello" >/dev/null  # warm-up
    s0=$(proc_ticks "$server_pid")
    m0=$(machine_ticks)
    c0=$(awk '{ print $16 + $17 }' /proc/$$/stat)  # children's CPU so far
    wrk -t"$wrk_threads" -c"$wrk_conns" -d"${wrk_seconds}s" --latency "$url/hello" >"$log.out"
  elif [ "$phase" = closed ]; then
    s0=$(proc_ticks "$server_pid")
    m0=$(machine_ticks)
    c0=$(awk '{ print $16 + $17 }' /proc/$$/stat)
    "$closed_load" --port "$port" --connections "$closed_conns" --duration "$closed_seconds" --warmup 1 \
      --heavy-every "$heavy_every" --heavy-ms "$heavy_ms" --label "$config" >"$log.out"
  else
    s0=$(proc_ticks "$server_pid")
    m0=$(machine_ticks)
    c0=$(awk '{ print $16 + $17 }' /proc/$$/stat)
    "${client_prefix[@]}" "$load" --port "$port" --rate "$mix_rate" --duration "$mix_seconds" --warmup 1 \
      --heavy-every "$heavy_every" --heavy-ms "$heavy_ms" --label "$config" --json >"$log.out"
  fi
  m1=$(machine_ticks)
  s1=$(proc_ticks "$server_pid")
  local c1
  c1=$(awk '{ print $16 + $17 }' /proc/$$/stat)
  stop_server
  # CPU use over the run, in CPUs: the server's, the client's, everyone
  # else's (the machine's busy time minus both), and steal time.
  local cpu
  cpu=$(awk -v m0="$m0" -v m1="$m1" -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v n="$ncpu" 'BEGIN {
      split(m0, a, " "); split(m1, b, " ")
      busy = b[1] - a[1]; idle = b[2] - a[2]; steal = b[3] - a[3]
      secs = (busy + idle) / n / hz
      if (secs <= 0) secs = 1
      srv = (s1 - s0) / hz / secs; cli = (c1 - c0) / hz / secs; oth = busy / hz / secs - srv - cli
      if (oth < 0) oth = 0
      printf "\"server_cpus\": %.3f, \"client_cpus\": %.3f, \"other_cpus\": %.3f, \"steal_cpus\": %.3f, \"seconds\": %.2f",
             srv, cli, oth, steal / hz / secs, secs }')
  if [ "$phase" = wrk ]; then
    printf '{"phase": "wrk", "config": "%s", "round": %s, %s, %s}\n' "$config" "$round" "$(wrk_summary <"$log.out")" \
      "$cpu" >>"$runs"
    awk '/Requests\/sec|^ +99%/' "$log.out" | tr -s ' ' | tr '\n' ' ' | sed "s/^/   $config r$round: /" >&2
    echo >&2
  elif [ "$phase" = closed ]; then
    printf '{"phase": "closed", "config": "%s", "round": %s, %s, "load": %s}\n' "$config" "$round" "$cpu" \
      "$(tr -d '\n' <"$log.out")" >>"$runs"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); h=d["hello"]; print("   %s r%s: /hello p50 %.3f p99 %.3f ms, %.0f req/s" % (sys.argv[2], sys.argv[3], h["p50_us"]/1e3, h["p99_us"]/1e3, d["rps"]))' \
      "$log.out" "$config" "$round" >&2
  else
    printf '{"phase": "mix", "config": "%s", "round": %s, %s, "load": %s}\n' "$config" "$round" "$cpu" \
      "$(tr -d '\n' <"$log.out")" >>"$runs"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); h=d["hello"]; print("   %s r%s: /hello p50 %.3f p99 %.3f p99.9 %.3f ms, errors %d, waited %d, send lag p99 %.3f ms" % (sys.argv[2], sys.argv[3], h["p50_us"]/1e3, h["p99_us"]/1e3, h["p999_us"]/1e3, h["errors"], h["waited"], d["send_lag"]["p99_us"]/1e3))' \
      "$log.out" "$config" "$round" >&2
  fi
}

wrk_configs=(jiffy-none jiffy-full go)
mix_configs=(jiffy-none jiffy-voluntary jiffy-full go)
closed_configs=(jiffy-none jiffy-full jiffy-lazy go)
echo "== $(cut -d' ' -f1-3 /proc/loadavg) load average; $ncpu CPUs; load client: $client_sched" >&2
for r in $(seq "$rounds"); do
  # Rotate the order each round, so no configuration always runs first.
  for phase in $phases; do
    case $phase in
      wrk) configs=("${wrk_configs[@]}") ;;
      closed) configs=("${closed_configs[@]}") ;;
      *) configs=("${mix_configs[@]}") ;;
    esac
    n=${#configs[@]}
    for i in $(seq 0 $((n - 1))); do
      c=${configs[$(((i + r - 1) % n))]}
      echo "== round $r/$rounds: $phase $c" >&2
      run_one "$phase" "$c" "$r"
    done
  done
done

python3 "$root/bench/plot_http_latency.py" "$runs" ${svg:+--svg "$svg"}
