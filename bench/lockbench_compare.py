#!/usr/bin/env python3
"""bench/lockbench_compare.py — compares two `lockbench --json` results point
by point and says which differences are significant.

    lockbench --repeat 10 --json ... > a.json     # before
    lockbench --repeat 10 --json ... > b.json     # after
    bench/lockbench_compare.py a.json b.json [--alpha 0.05] [--all]
    bench/lockbench_compare.py --self-test

Points are matched by scenario, lock and configuration (kind, contenders,
workers, preemption model, quantum, CPU, critical section and gap). For each
matched point and headline figure (uncontended: ns_best; contended:
throughput and acquisition p99) it prints both medians, their ratio B/A and
the two-sided p-value of a Mann-Whitney U test on the runs' figures.

Why Mann-Whitney: benchmark runs are skewed (a disturbed run is slow, never
fast) and few, so a t-test's normality does not hold; the U test asks only
whether a run of B tends to be larger than a run of A. Its p-value comes from
the normal approximation with a correction for ties and for continuity,
good from about 5 runs a side; with fewer the test cannot reach small
p-values at all, and the script says so. Many points are compared at once,
so the p-values are adjusted with Holm's step-down method (the family-wise
error rate stays at alpha) before a difference is called significant.

Standard library only.
"""

import argparse
import json
import math
import random
import sys

KEY_FIELDS = ("scenario", "lock", "kind", "contenders", "workers", "preempt", "quantum_us", "pin_cpu", "cs_ns", "gap_ns")
# figure: (samples key, median key in the row, "higher is better")
FIGURES = {
    "uncontended": [("ns_best", "ns_best", False)],
    "contended": [("throughput", "throughput", True), ("acq_p99_ns", None, False)],
}


def mann_whitney(a, b):
    """Two-sided p-value and U statistic (for b) of the Mann-Whitney U test, by
    the normal approximation with tie and continuity corrections."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0, 0.0
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    tie_term = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        tie_term += t ** 3 - t
        i = j + 1
    rank_sum_b = sum(r for r, (_, who) in zip(ranks, pooled) if who == 1)
    u_b = rank_sum_b - n2 * (n2 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0
    if var <= 0:
        return 1.0, u_b
    z = (abs(u_b - mean) - 0.5) / math.sqrt(var)
    return min(1.0, math.erfc(max(z, 0) / math.sqrt(2))), u_b


def holm(pvalues):
    """Holm-adjusted p-values, in the input's order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def median(v):
    s = sorted(v)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def point_key(r):
    return tuple(r.get(f) for f in KEY_FIELDS)


def describe(key):
    parts = dict(zip(KEY_FIELDS, key))
    s = f"{parts['scenario']}: {parts['lock']}"
    if parts["kind"] == "uncontended":
        return s + ", uncontended"
    s += f", {parts['contenders']} {parts['kind']}"
    if parts["kind"] == "fibers":
        s += f"/{parts['workers']}w {parts['preempt']}"
    return s + f", cs {parts['cs_ns']} ns, gap {parts['gap_ns']} ns"


def samples_of(row, figure):
    s = row.get("samples", {}).get(figure)
    if s:
        return s
    # A run without --repeat: its one figure.
    if figure == "acq_p99_ns":
        return [row["acquire"]["p99_ns"]]
    return [row[figure]]


def comparisons(a_rows, b_rows):
    b_by_key = {point_key(r): r for r in b_rows}
    out = []
    for ra in a_rows:
        rb = b_by_key.get(point_key(ra))
        if rb is None:
            continue
        kind = "uncontended" if ra.get("kind") == "uncontended" else "contended"
        for figure, _, higher_better in FIGURES[kind]:
            sa, sb = samples_of(ra, figure), samples_of(rb, figure)
            p, _ = mann_whitney(sa, sb)
            out.append({"key": point_key(ra), "figure": figure, "a": sa, "b": sb, "p": p, "higher_better": higher_better})
    return out


def verdict(c, adjusted_p, alpha):
    ma, mb = median(c["a"]), median(c["b"])
    if min(len(c["a"]), len(c["b"])) < 5:
        return "too few runs to test (use --repeat 5 or more)"
    if adjusted_p >= alpha:
        return "no significant difference"
    better = (mb > ma) == c["higher_better"]
    return "B significantly " + ("better" if better else "worse")


def report(a, b, alpha, show_all):
    cs = comparisons(a["results"], b["results"])
    if not cs:
        print("no point of A matches a point of B (same scenario, lock and configuration)")
        return 1
    adjusted = holm([c["p"] for c in cs])
    print(f"A: {a.get('command_line', '?')}\nB: {b.get('command_line', '?')}")
    print(f"{len(cs)} comparisons; Mann-Whitney U, two-sided, Holm-adjusted, alpha {alpha}\n")
    print(f"{'point':60} {'figure':12} {'median A':>12} {'median B':>12} {'B/A':>7} {'p adj':>8}  verdict")
    significant = 0
    for c, p in zip(cs, adjusted):
        v = verdict(c, p, alpha)
        if "significantly" in v:
            significant += 1
        elif not show_all:
            continue
        ma, mb = median(c["a"]), median(c["b"])
        ratio = mb / ma if ma else float("nan")
        print(f"{describe(c['key'])[:60]:60} {c['figure']:12} {ma:12.4g} {mb:12.4g} {ratio:7.3f} {p:8.3g}  {v}")
    print(f"\n{significant} of {len(cs)} differences significant" + ("" if show_all else " (--all lists every one)"))
    return 0


# ------------------------------------------------------------ self-test ----


def self_test():
    """Checks the U test on samples with known answers; exits 1 on failure."""
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    # Exact: no overlap, 5 vs 5: U = 25 for b; the normal approximation gives
    # z = (12.5 - 0.5) / sqrt(25 * 11 / 12) = 2.5067, p = 0.01219.
    p, u = mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    check(u == 25 and abs(p - 0.012186) < 1e-4, f"separated 5 vs 5: U 25, p 0.0122 (got U {u}, p {p:.6f})")
    p, u = mann_whitney([1, 2, 3], [1, 2, 3])
    check(u == 4.5 and p == 1.0, f"identical samples: U 4.5, p 1 (got U {u}, p {p})")
    check(holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06], f"Holm: {holm([0.01, 0.04, 0.03])}")

    rng = random.Random(7)
    trials = 1000
    # Same distribution: about alpha of the tests reject (the approximation
    # with continuity correction is a little conservative).
    false_alarms = sum(
        mann_whitney([rng.expovariate(1) for _ in range(10)], [rng.expovariate(1) for _ in range(10)])[0] < 0.05
        for _ in range(trials)
    )
    check(0.02 * trials <= false_alarms <= 0.07 * trials, f"same distribution: {false_alarms}/{trials} rejections")
    # Shifted by one standard deviation, 20 runs a side: power about 0.87.
    detected = sum(
        mann_whitney([rng.gauss(0, 1) for _ in range(20)], [rng.gauss(1, 1) for _ in range(20)])[0] < 0.05
        for _ in range(trials)
    )
    check(detected >= 0.80 * trials, f"shifted by 1 sd: {detected}/{trials} detected")
    print(f"self-test: same distribution rejected {false_alarms}/{trials}, 1-sd shift detected {detected}/{trials}")

    # End to end: two results whose throughput differs, and one that does not.
    def result(tp):
        return {"results": [{"scenario": "s", "lock": "x", "kind": "threads", "contenders": 2, "cs_ns": 0, "gap_ns": 0,
                             "throughput": median(tp), "acquire": {"p99_ns": 1}, "samples": {"throughput": tp,
                                                                                                "acq_p99_ns": [1] * 8}}]}
    slow = result([100 + i for i in range(8)])
    fast = result([200 + i for i in range(8)])
    cs = comparisons(slow["results"], fast["results"])
    adj = holm([c["p"] for c in cs])
    check(verdict(cs[0], adj[0], 0.05) == "B significantly better", f"end to end: {verdict(cs[0], adj[0], 0.05)}")
    check(verdict(cs[1], adj[1], 0.05) == "no significant difference", f"end to end p99: {verdict(cs[1], adj[1], 0.05)}")

    for f in failures:
        print("FAILED:", f)
    print("self-test:", "FAILED" if failures else "passed")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", nargs="?", help="the baseline: lockbench --json output")
    ap.add_argument("b", nargs="?", help="the candidate")
    ap.add_argument("--alpha", type=float, default=0.05, help="family-wise significance level (default 0.05)")
    ap.add_argument("--all", action="store_true", help="list every comparison, not only significant ones")
    ap.add_argument("--self-test", action="store_true", help="check the statistics on known samples")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.a or not args.b:
        ap.error("two JSON files are needed (or --self-test)")
    results = []
    for path in (args.a, args.b):
        try:
            with open(path) as f:
                results.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"lockbench_compare.py: {path}: {e}", file=sys.stderr)
            return 2
    return report(results[0], results[1], args.alpha, args.all)


if __name__ == "__main__":
    sys.exit(main())
