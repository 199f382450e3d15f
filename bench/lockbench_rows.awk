# bench/lockbench_rows.awk — checks every contended row of `lockbench --json`
# (one result per line), for the workload tests in bench/CMakeLists.txt:
#   -v reads=1     each row took some reads, and not only reads (--readers 50)
#   -v long=1      each row counted long holds (--long-hold-every)
#   -v min_rows=N  at least N rows
# Every row must have acquisitions and no violations. Prints "rows-ok N",
# or the first failing row's lock and why and exits 1.
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
  if (a <= 0) fail("no acquisitions")
  if (v != 0) fail(v " violations")
  if (reads && !(r > 0 && r < a)) fail("reads " r " of " a " acquisitions")
  if (long && l <= 0) fail("no long holds")
}
END {
  if (bad) exit 1
  if (n < min_rows) {
    print "only " n " rows, expected " min_rows
    exit 1
  }
  print "rows-ok " n
}
