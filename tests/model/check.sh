#!/usr/bin/env bash
# tests/model/check.sh — checks the Promela models beside the code they
# describe with spin, and checks that each seeded bug is caught (a model that
# cannot fail proves nothing).
#
# Usage: tests/model/check.sh [work-dir]    Needs spin and a C compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"
cc=${CC:-cc}
command -v spin > /dev/null || { echo "check.sh: spin not found (Debian: apt-get install spin)"; exit 2; }

# run MODEL FLAGS EXPECT: EXPECT is "clean" or "violation".
run() {
  local model=$1 flags=$2 expect=$3 out
  spin $flags -a "$here/$model" > /dev/null
  "$cc" -O2 -DSAFETY -o pan pan.c
  out=$(./pan -m1000000 2>&1)
  local errors
  errors=$(echo "$out" | sed -n 's/.*errors: \([0-9]*\).*/\1/p' | head -1)
  if echo "$out" | grep -q "max search depth too small"; then
    echo "FAIL $model $flags: search depth too small"; return 1
  fi
  if [ "$expect" = clean ] && [ "$errors" = 0 ]; then
    echo "ok   $model ${flags:-(as written)}: holds ($(echo "$out" | grep -o '[0-9]* states, stored'))"
  elif [ "$expect" = violation ] && [ "${errors:-0}" != 0 ]; then
    echo "ok   $model $flags: the seeded bug is caught"
  else
    echo "FAIL $model ${flags:-(as written)}: expected $expect, spin says errors: ${errors:-?}"
    echo "$out" | tail -20
    return 1
  fi
}

status=0
run idle_handshake.pml "" clean || status=1
run idle_handshake.pml "-DBUG_NO_SPINNER_HANDOFF" clean || status=1
run idle_handshake.pml "-DBUG_NO_LAST_LOOK" violation || status=1
run idle_handshake.pml "-DBUG_LOOK_BEFORE_LISTING" violation || status=1
run poller_handover.pml "" clean || status=1
run poller_handover.pml "-DBUG_NO_WAKE_AFTER_LOOK" violation || status=1
exit $status
