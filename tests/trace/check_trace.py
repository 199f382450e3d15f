#!/usr/bin/env python3
"""tests/trace/check_trace.py — the built-in recorder's file, checked.

Runs tests/trace/trace_workload (its path is the first argument) three ways
and checks each file it writes:
  * with runtime_options::trace_file, and with the environment's
    JIFFY_TRACE instead: the file parses as JSON in Chrome's trace-event
    object format; every slice is a complete event ("X", no unmatched
    begin/end pairs); slices on one track never overlap; every flow start
    has its finish and vice versa; the counts agree with runtime::stats()
    (runs that ended finished, preempted/rescheduled/wake-up preempted,
    yields, deferred signals, spawns); the fifo fiber's runs carry its name,
    class and priority;
  * with a ring of 64 events: records are dropped, the file says how many,
    and what is kept still follows every rule above but the counts.

Usage: check_trace.py TRACE_WORKLOAD   (exit status 1 with the failures)
"""
import json
import os
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(workload, args, env_path=None):
    env = dict(os.environ)
    env.pop("JIFFY_TRACE", None)
    if env_path:
        env["JIFFY_TRACE"] = env_path
    out = subprocess.run([workload] + args, capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        sys.exit(f"check_trace: {workload} {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def check_file(path, stats, label, counts=True):
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    other = trace["otherData"]
    workers = stats["workers"]
    names = [e for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
    check(len(names) == workers + 2, f"{label}: {len(names)} named tracks, expected {workers + 2}")
    check(not any(e["ph"] in ("B", "E") for e in events), f"{label}: begin/end events (slices must be complete)")
    slices = [e for e in events if e["ph"] == "X"]
    check(all(e["dur"] >= 0 for e in slices), f"{label}: a slice with negative duration")
    by_track = {}
    for e in slices:
        by_track.setdefault(e["tid"], []).append(e)
    for tid, evs in by_track.items():
        evs.sort(key=lambda e: e["ts"])
        for a, b in zip(evs, evs[1:]):
            check(a["ts"] + a["dur"] <= b["ts"] + 1e-6,
                  f"{label}: slices overlap on track {tid}: {a['name']}@{a['ts']}+{a['dur']} and {b['name']}@{b['ts']}")
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    check(set(starts) == set(finishes), f"{label}: flows without both ends")
    check(all(starts[i]["ts"] <= finishes[i]["ts"] for i in starts if i in finishes),
          f"{label}: a flow that finishes before it starts")
    runs = [e for e in slices if e.get("cat") != "worker"]
    left = lambda why: sum(1 for e in runs if e["args"]["left"] == why)
    if not counts:
        check(other["dropped_records"] > 0, f"{label}: a 64-event ring dropped nothing")
        return
    audio = [e for e in runs if e["name"] == "audio"]
    check(len(audio) > 0 and all(e["cat"] == "SCHED_FIFO" and e["args"]["priority"] == 50 for e in audio),
          f"{label}: the fifo fiber's runs lack its name, class or priority")
    check(other["dropped_records"] == 0, f"{label}: records dropped: {other['dropped_records']}")
    check(left("finished") == stats["fibers_finished"],
          f"{label}: {left('finished')} runs ended finished, stats say {stats['fibers_finished']}")
    involuntary = left("preempted") + left("rescheduled") + left("wakeup_preempted")
    check(involuntary == stats["preemptions"] + stats["voluntary_reschedules"],
          f"{label}: {involuntary} involuntary switches, stats say {stats['preemptions']} + {stats['voluntary_reschedules']}")
    check(stats["preemptions"] > 0, f"{label}: the hogs were never preempted")
    check(left("yield") == stats["yields"], f"{label}: {left('yield')} yields, stats say {stats['yields']}")
    # Like sleeps (below), deferred signals may go on after the snapshot: a
    # fiber counted finished is still on its CPU, in the runtime section,
    # until it switches away for good.
    snapshot_us = (stats["snapshot_ns"] - other["start_ns"]) / 1000.0
    deferred = [e for e in events if e["ph"] == "i" and e["name"] == "preemption deferred"]
    deferred_before = sum(1 for e in deferred if e["ts"] < snapshot_us)
    check(deferred_before <= stats["deferred_preemptions"] <= len(deferred),
          f"{label}: {deferred_before} deferred instants before the stats snapshot and {len(deferred)} in all, "
          f"stats say {stats['deferred_preemptions']}")
    spawns = sum(1 for e in events if e["ph"] == "s" and e["name"] == "spawn")
    check(spawns == stats["fibers_spawned"], f"{label}: {spawns} spawn flows, stats say {stats['fibers_spawned']}")
    check(any(e["ph"] == "s" and e["name"] == "wake" for e in events), f"{label}: no wake-up flows")
    # Idle workers keep sleeping after the workload's stats snapshot, so the
    # file holds every sleep the stats counted (the count is bumped before the
    # sleep's record begins) and perhaps some more, but none of those that
    # began before the snapshot can be missing from the stats.
    sleeps = [e for e in slices if e["name"] == "sleep"]
    before = sum(1 for e in sleeps if e["ts"] < snapshot_us)
    check(before <= stats["worker_sleeps"] <= len(sleeps),
          f"{label}: {before} sleeps before the stats snapshot and {len(sleeps)} in all, "
          f"stats say {stats['worker_sleeps']}")


def main():
    workload = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        for workers in (1, 2):
            path = os.path.join(d, f"option-{workers}.json")
            stats = run(workload, ["--out", path, "--workers", str(workers)])
            check_file(path, stats, f"trace_file, {workers} workers")
        env_path = os.path.join(d, "env.json")
        check_file(env_path, run(workload, [], env_path=env_path), "JIFFY_TRACE")
        small = os.path.join(d, "small.json")
        check_file(small, run(workload, ["--out", small, "--buffer", "64"]), "64-event ring", counts=False)
    for f in failures:
        print(f"check_trace: {f}")
    print(f"check_trace: {'FAILED' if failures else 'all checks passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
