# bench/lockbench_rows.awk — checks every contended row of `lockbench --json`
# (one result per line), for the workload tests in bench/CMakeLists.txt:
#   -v reads=1     a row took some reads, and not only reads (--readers 50)
#   -v long=1      a row counted long holds (--long-hold-every 20 or less)
#   -v min_rows=N  at least N rows, and at least N/2 of them busy
# No row may have a violation. The counts are checked on busy rows, with
# at least 200 acquisitions: there a 50% draw is all one side with
# probability 2^-199, and some contender took 20 or more. A row can be
# nearly idle: a holder-preemptible lock (hp_*) or jiffy::mutex on fibers
# under `full` preemption, on a loaded machine, has had 0 acquisitions in a
# 20 ms window (its preempted holder's waiters spin out their quanta: the
# cost lockbench exists to show). Prints "rows-ok N (busy M)", or the first
# failing row's lock and why and exits 1.
function field(k, re) {
  re = "\"" k "\": [0-9]+"
  if (!match($0, re)) return -1
  return substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 4) + 0
}
function fail(why) {
  print "row " n " (" lock "): " why
  bad = 1
  exit 1
}
/"kind": "(threads|fibers)"/ {
  n++
  lock = $0
  sub(/.*"lock": "/, "", lock)
  sub(/".*/, "", lock)
  a = field("acquisitions"); r = field("reads"); l = field("long_holds"); v = field("violations")
  if (a < 0 || v != 0) fail(v " violations")
  if (a < 200) next
  busy++
  if (reads && !(r > 0 && r < a)) fail("reads " r " of " a " acquisitions")
  if (long && l <= 0) fail("no long holds in " a " acquisitions")
}
END {
  if (bad) exit 1
  if (n < min_rows || busy < min_rows / 2) {
    print "only " n " rows (" busy " busy), expected " min_rows " (" min_rows / 2 " busy)"
    exit 1
  }
  print "rows-ok " n " (busy " busy ")"
}
