#!/usr/bin/env python3
"""bench/ratios.py — jiffy/reference ratios from jiffy_bench_core's JSON output.

Reads Google Benchmark JSON (a file named on the command line, or stdin) and
prints a markdown table: operation | jiffy ns | reference ns | ratio | target
| met?. Times are each benchmark's `per_op` counter (seconds per operation,
see bench_core.cpp), taken from the median aggregate when the run had
repetitions, else averaged over the runs. Benchmarks that have no reference
are listed after the table.

    jiffy_bench_core --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
        --benchmark_out=core.json --benchmark_out_format=json
    python3 bench/ratios.py core.json

Exit status: 0 when every target with a reference was met, 1 otherwise, 2 on
unusable input.
"""

import json
import sys

# (operation, jiffy benchmark, reference benchmark, target ratio or None).
# A target is an upper bound on jiffy/reference; "faster than" is < 1.0.
PAIRS = [
    ("raw context switch", "BM_switch/jiffy", "BM_switch/boost_context", ("<=", 1.0)),
    ("raw context switch, equal MXCSR (diagnostic)", "BM_switch/jiffy_same_mxcsr", "BM_switch/boost_context",
     ("<=", 1.0)),
    ("yield (2 fibers, 1 worker)", "BM_yield/jiffy", "BM_yield/boost_fiber", ("<=", 0.5)),
    ("spawn+join", "BM_spawn_join/jiffy", "BM_spawn_join/boost_fiber", ("<", 1.0)),
    ("spawn+join vs pooled stacks", "BM_spawn_join/jiffy", "BM_spawn_join/boost_fiber_pooled", None),
    ("burst of 1,000 spawns then joins", "BM_spawn_batch/jiffy", "BM_spawn_batch/boost_fiber_pooled", ("<=", 0.5)),
    ("burst of 1,000, 2 workers", "BM_spawn_batch/jiffy_2workers", "BM_spawn_batch/boost_fiber_pooled", None),
    ("262,144 empty tasks + wait group (marl's Schedule/Empty)", "BM_empty_tasks/jiffy_1worker", "BM_empty_tasks/boost_fiber_pooled", None),
    ("262,144 empty tasks, 2 workers", "BM_empty_tasks/jiffy_2workers", "BM_empty_tasks/boost_fiber_pooled", None),
    ("preempt_disable+enable pair (thread)", "BM_preempt_pair/jiffy", "BM_preempt_pair/thread_local", ("<=", 1.5)),
    ("preempt_disable+enable pair (in fiber)", "BM_preempt_pair/jiffy_in_fiber",
     "BM_preempt_pair/thread_local_in_fiber", ("<=", 1.5)),
    ("mutex+condvar hand-off (1 worker)", "BM_mutex_pingpong/jiffy", "BM_mutex_pingpong/boost_fiber", ("<=", 0.5)),
    ("std::mutex lock+unlock in a fiber, wrapped vs direct", "BM_std_mutex/wrapped_in_fiber",
     "BM_std_mutex/direct_in_fiber", ("<=", 1.2)),
]


def base_name(run_name):
    """'BM_yield/jiffy/min_time:0.250/real_time' -> 'BM_yield/jiffy'."""
    parts = [p for p in run_name.split("/") if ":" not in p and p not in ("real_time", "manual_time", "process_time")]
    return "/".join(parts)


def per_op_ns(benchmarks):
    """Maps base name -> nanoseconds per operation."""
    medians, runs = {}, {}
    for b in benchmarks:
        if "per_op" not in b:
            continue
        name = base_name(b.get("run_name", b["name"]))
        ns = b["per_op"] * 1e9
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = ns
        else:
            runs.setdefault(name, []).append(ns)
    result = {name: sum(v) / len(v) for name, v in runs.items()}
    result.update(medians)
    return result


def fmt_ns(ns):
    return f"{ns:.2f}" if ns < 100 else f"{ns:.0f}"


def main():
    try:
        if len(sys.argv) > 2:
            raise ValueError("usage: ratios.py [benchmark.json]")
        text = open(sys.argv[1]).read() if len(sys.argv) == 2 else sys.stdin.read()
        data = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"ratios.py: {e}", file=sys.stderr)
        return 2
    times = per_op_ns(data.get("benchmarks", []))
    if not times:
        print("ratios.py: no benchmark with a per_op counter in the input", file=sys.stderr)
        return 2

    print("| operation | jiffy ns | reference ns | ratio | target | met? |")
    print("|---|---:|---:|---:|---:|:---:|")
    used, all_met = set(), True
    for op, mine, ref, target in PAIRS:
        if mine not in times or ref not in times:
            continue
        used.update((mine, ref))
        ratio = times[mine] / times[ref]
        if target is None:
            target_text, met = "—", "—"
        else:
            cmp, bound = target
            ok = ratio <= bound if cmp == "<=" else ratio < bound
            all_met = all_met and ok
            target_text, met = f"{cmp} {bound:g}", "yes" if ok else "**no**"
        print(f"| {op} (`{mine}` vs `{ref}`) | {fmt_ns(times[mine])} | {fmt_ns(times[ref])} | {ratio:.2f} "
              f"| {target_text} | {met} |")

    rest = sorted(set(times) - used)
    if rest:
        print()
        print("| without a reference | ns per operation |")
        print("|---|---:|")
        for name in rest:
            print(f"| `{name}` | {fmt_ns(times[name])} |")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
