#!/usr/bin/env python3
"""bench/plot_http_latency.py — tables and an SVG plot from bench/http_bench.sh.

Usage: plot_http_latency.py RUNS.jsonl [--svg FILE]

RUNS.jsonl holds one JSON object per line, written by bench/http_bench.sh:
  {"phase": "meta", ...}                      the machine and the settings
  {"phase": "wrk", "config": ..., "round": ..., "rps": ..., "p50_us": ...,
   "p99_us": ..., "server_cpus": ..., ...}    one wrk run
  {"phase": "mix", "config": ..., "round": ..., "server_cpus": ...,
   "load": {...bench/http_load --json...}}    one mixed-load run

Prints markdown: the wrk table, the mixed-load table (medians over the rounds,
with the min-max spread), ratios against the targets, and the machine's other
load during the runs. With --svg, draws the /hello latency percentile curves
of the mixed load (median over the rounds per percentile, min-max band) and
the wrk throughput bars, by hand (standard library only: no matplotlib).
"""

import argparse
import json
import math
import os
import statistics
import sys
from xml.sax.saxutils import escape

NAMES = {
    "jiffy-none": "jiffy `none`",
    "jiffy-voluntary": "jiffy `voluntary`",
    "jiffy-full": "jiffy `full`",
    "jiffy-lazy": "jiffy `lazy`",
    "go": "Go net/http",
}
PLAIN = {k: v.replace("`", "") for k, v in NAMES.items()}
COLOURS = {"jiffy-none": "#d62728", "jiffy-voluntary": "#ff7f0e", "jiffy-full": "#1f77b4", "jiffy-lazy": "#9467bd", "go": "#2ca02c"}
ORDER = ["jiffy-none", "jiffy-voluntary", "jiffy-full", "jiffy-lazy", "go"]


def load(path):
    meta, wrk, mix, closed = {}, {}, {}, {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot_http_latency.py: {path}:{n}: not JSON: {e}")
            if r["phase"] == "meta":
                meta = r
            elif r["phase"] == "wrk":
                wrk.setdefault(r["config"], []).append(r)
            elif r["phase"] == "mix":
                mix.setdefault(r["config"], []).append(r)
            elif r["phase"] == "closed":
                closed.setdefault(r["config"], []).append(r)
    return meta, wrk, mix, closed


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ms(us):
    v = us / 1000
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def spread(xs, fmt):
    """'median (min–max)' for several rounds, the value alone for one."""
    if len(xs) == 1:
        return fmt(xs[0])
    return f"{fmt(med(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def ratio(a, b):
    return a / b if b else float("inf")


def other_load(rs):
    """Other processes' CPU use during each round's run, in CPUs."""
    return " / ".join(f"{r['other_cpus']:.2f}" for r in sorted(rs, key=lambda r: r["round"]))


def wrk_table(meta, wrk, out):
    configs = [c for c in ORDER if c in wrk]
    if not configs:
        return {}
    rounds = max(len(wrk[c]) for c in configs)
    out.append(f"**/hello throughput, closed loop** (wrk -t{meta.get('wrk_threads', '?')} "
               f"-c{meta.get('wrk_connections', '?')} -d{meta.get('wrk_seconds', '?')}s --latency, keep-alive; "
               f"{meta.get('workers', '?')} server workers / GOMAXPROCS; median of {rounds} interleaved rounds, "
               "min–max in brackets):")
    out.append("")
    out.append("| server | requests/s | p50 | p99 | server CPUs | requests per server CPU-second | errors | other load |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for c in configs:
        rs = wrk[c]
        rps = [r["rps"] for r in rs]
        p50 = [r["p50_us"] for r in rs]
        p99 = [r["p99_us"] for r in rs]
        cpus = [r["server_cpus"] for r in rs]
        eff = [r["rps"] / r["server_cpus"] for r in rs if r["server_cpus"] > 0]
        errs = sum(r["socket_errors"] + r["non2xx"] for r in rs)
        summary[c] = {"rps": med(rps), "p50": med(p50), "p99": med(p99)}
        out.append(f"| {NAMES.get(c, c)} | {spread(rps, lambda v: f'{v:,.0f}')} | "
                   f"{spread(p50, lambda v: ms(v) + ' ms')} | {spread(p99, lambda v: ms(v) + ' ms')} | "
                   f"{med(cpus):.2f} | {med(eff):,.0f} | {errs} | {other_load(rs)} |")
    out.append("")
    if "jiffy-full" in summary and "jiffy-none" in summary:
        r = ratio(summary["jiffy-full"]["rps"], summary["jiffy-none"]["rps"])
        out.append(f"- jiffy `full` vs `none` throughput: ×{r:.3f} (target ≥ 0.97: {'met' if r >= 0.97 else 'NOT met'})")
        out.append("")
    if "go" in summary:
        go = summary["go"]
        for c in configs:
            if c == "go":
                continue
            s = summary[c]
            t_ok = s["rps"] >= go["rps"]
            l_ok = s["p99"] <= go["p99"]
            out.append(f"- {NAMES[c]} vs Go: throughput ×{ratio(s['rps'], go['rps']):.2f} "
                       f"(target ≥ 1: {'met' if t_ok else 'NOT met'}), p99 ×{ratio(s['p99'], go['p99']):.2f} "
                       f"(target ≤ 1: {'met' if l_ok else 'NOT met'})")
        out.append("")
    return summary


def mix_table(meta, mix, out):
    configs = [c for c in ORDER if c in mix]
    if not configs:
        return {}
    any_load = mix[configs[0]][0]["load"]
    rounds = max(len(mix[c]) for c in configs)
    q = meta.get("quantum_us", "?")
    out.append(f"**/hello beside heavy requests, open loop** (bench/http_load: {any_load['rate']:,.0f} requests/s for "
               f"{any_load['duration_s']:g} s after {any_load['warmup_s']:g} s of warm-up; 1 in "
               f"{any_load['heavy_every']} ({any_load['heavy_pattern']}, fixed seed) is /work?ms={any_load['heavy_ms']}, "
               f"on its own connections; {any_load['connections']} + {any_load['heavy_connections']} keep-alive "
               f"connections; latency from each request's intended send time; {meta.get('workers', '?')} server "
               f"workers / GOMAXPROCS, quantum {q} µs; client {any_load['client_sched']}; median of {rounds} "
               "interleaved rounds, min–max in brackets; times in ms):")
    out.append("")
    out.append("| server | /hello p50 | /hello p99 | /hello p99.9 | /hello max | /work p50 | /work p99 | "
               "errors | waited | client send lag p99 | server CPUs | other load |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for c in configs:
        rs = mix[c]
        h = [r["load"]["hello"] for r in rs]
        w = [r["load"]["heavy"] for r in rs]
        p50 = [x["p50_us"] for x in h]
        p99 = [x["p99_us"] for x in h]
        p999 = [x["p999_us"] for x in h]
        mx = [x["max_us"] for x in h]
        errs = sum(x["errors"] for x in h) + sum(x["errors"] for x in w)
        waited = sum(x["waited"] for x in h) + sum(x["waited"] for x in w)
        lag = [r["load"]["send_lag"]["p99_us"] for r in rs]
        summary[c] = {"p50": med(p50), "p99": med(p99), "p999": med(p999), "max": med(mx)}
        out.append(f"| {NAMES.get(c, c)} | {spread(p50, ms)} | {spread(p99, ms)} | {spread(p999, ms)} | "
                   f"{spread(mx, ms)} | {ms(med([x['p50_us'] for x in w]))} | {ms(med([x['p99_us'] for x in w]))} | "
                   f"{errs} | {waited} | {ms(med(lag))} | {med([r['server_cpus'] for r in rs]):.2f} | "
                   f"{other_load(rs)} |")
    out.append("")
    if "jiffy-full" in summary:
        f = summary["jiffy-full"]
        if "jiffy-none" in summary:
            r = ratio(summary["jiffy-none"]["p99"], f["p99"])
            out.append(f"- /hello p99, `none` ÷ `full`: ×{r:.1f} (target ≥ 5: {'met' if r >= 5 else 'NOT met'})")
        if "go" in summary:
            r = ratio(f["p99"], summary["go"]["p99"])
            out.append(f"- /hello p99, `full` ÷ Go: ×{r:.2f} (target < 1: {'met' if r < 1 else 'NOT met'})")
        out.append("")
    return summary


def closed_table(meta, closed, out):
    """The saturated mixed load (bench/http_closed_loop): /hello latency while
    every worker may be busy with /work requests."""
    configs = [c for c in ORDER if c in closed]
    if not configs:
        return
    first = closed[configs[0]][0]
    load = first["load"]
    rounds = max(len(closed[c]) for c in configs)
    out.append(f"**/hello beside heavy requests, closed loop, saturated** (bench/http_closed_loop: "
               f"{load['connections']} keep-alive connections, each sending its next request when the last answered; "
               f"1 in {meta.get('heavy_every', '?')} is /work?ms={meta.get('heavy_ms', '?')}; {load['seconds']:g} s "
               f"after 1 s of warm-up; {meta.get('workers', '?')} server workers / GOMAXPROCS, quantum "
               f"{meta.get('quantum_us', '?')} µs; median of {rounds} interleaved rounds, min–max in brackets; "
               "times in ms):")
    out.append("")
    out.append("| server | /hello p50 | /hello p99 | /hello p99.9 | /work p50 | requests/s | errors |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    p99 = {}
    for c in configs:
        rs = closed[c]
        h = [r["load"]["hello"] for r in rs]
        w = [r["load"]["work"] for r in rs]
        p99[c] = med([x["p99_us"] for x in h])
        errs = sum(x["errors"] for x in h) + sum(x["errors"] for x in w)
        out.append(f"| {NAMES.get(c, c)} | {spread([x['p50_us'] for x in h], ms)} | "
                   f"{spread([x['p99_us'] for x in h], ms)} | {spread([x['p999_us'] for x in h], ms)} | "
                   f"{spread([x['p50_us'] for x in w], ms)} | "
                   f"{spread([r['load']['rps'] for r in rs], lambda v: f'{v:,.0f}')} | {errs} |")
    out.append("")
    for c in ("jiffy-full", "jiffy-lazy"):
        if c not in p99:
            continue
        for ref in ("jiffy-none", "go"):
            if ref in p99:
                ok = p99[c] <= p99[ref] / 10
                out.append(f"- {NAMES.get(c, c)} /hello p99 vs {NAMES.get(ref, ref)}: ×{ratio(p99[c], p99[ref]):.3f} "
                           f"(target ≤ 0.1: {'met' if ok else 'NOT met'})")
    out.append("")


def machine_note(meta, wrk, mix, out):
    runs = [r for rs in list(wrk.values()) + list(mix.values()) for r in rs]
    if not runs:
        return
    other = [r["other_cpus"] for r in runs]
    steal = [r["steal_cpus"] for r in runs]
    out.append(f"Machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), Linux {meta.get('kernel', '?')}, "
               f"{meta.get('go', 'go')}, wrk {meta.get('wrk', '?')}; {meta.get('date', '')}. Load average at the start "
               f"{meta.get('loadavg', '?')}. *Other load*: CPUs used by other processes (the machine's busy time minus "
               f"the server's and the client's) during each round's run; median {med(other):.2f}, max "
               f"{max(other):.2f}; steal time {max(steal):.2f} CPUs at most.")
    out.append("")


# ---------------------------------------------------------------- svg ----

def nines(p):
    """x position of percentile p: 0 at 0%, 1 at 90%, 2 at 99%, ..."""
    return -math.log10(max(1e-6, 1 - p / 100))


def svg_plot(path, meta, wrk, mix):
    W, H = 1000, 520
    # Left panel: latency curves.
    L = {"x": 70, "y": 60, "w": 560, "h": 390}
    configs = [c for c in ORDER if c in mix]
    curves = {}
    for c in configs:
        per_round = [r["load"]["hello_curve"] for r in mix[c]]
        pts = []
        for i, (p, _) in enumerate(per_round[0]):
            if p >= 100:
                continue
            vals = [cv[i][1] for cv in per_round if i < len(cv)]
            pts.append((p, med(vals), min(vals), max(vals)))
        maxes = [r["load"]["hello"]["max_us"] for r in mix[c]]
        curves[c] = (pts, med(maxes), min(maxes), max(maxes))
    all_v = [v for pts, *_ in curves.values() for (_, m, lo, hi) in pts for v in (lo, hi) if v > 0]
    all_v += [m for _, m, lo, hi in curves.values()]
    ymin = 10 ** math.floor(math.log10(min(all_v))) if all_v else 10
    ymax = 10 ** math.ceil(math.log10(max(all_v))) if all_v else 1e5
    xmax_n = 4.0  # 99.99%
    x_maxcol = xmax_n + 0.6

    def X(n):
        return L["x"] + L["w"] * n / x_maxcol

    def Y(us):
        us = max(us, ymin)
        return L["y"] + L["h"] * (1 - (math.log10(us) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)))

    o = []
    o.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">')
    o.append(f'<rect width="{W}" height="{H}" fill="white"/>')
    any_load = mix[configs[0]][0]["load"] if configs else None
    if any_load:
        title = (f"/hello latency beside 1-in-{any_load['heavy_every']} /work?ms={any_load['heavy_ms']} "
                 f"({any_load['rate']:,.0f} req/s, {meta.get('workers', '?')} workers)")
        o.append(f'<text x="{L["x"]}" y="24" font-size="15" font-weight="bold">{escape(title)}</text>')
        rounds = max(len(mix[c]) for c in configs)
        o.append(f'<text x="{L["x"]}" y="42" fill="#555">open loop, from the intended send time; line: median of '
                 f'{rounds} rounds, band: min–max; quantum {meta.get("quantum_us", "?")} µs</text>')
    # Axes and grid.
    o.append(f'<rect x="{L["x"]}" y="{L["y"]}" width="{L["w"]}" height="{L["h"]}" fill="none" stroke="#333"/>')
    d = ymin
    while d <= ymax * 1.001:
        for k in (1, 2, 5):
            v = d * k
            if v < ymin or v > ymax * 1.001:
                continue
            y = Y(v)
            major = k == 1
            o.append(f'<line x1="{L["x"]}" y1="{y:.1f}" x2="{L["x"] + L["w"]}" y2="{y:.1f}" '
                     f'stroke="{"#ccc" if major else "#eee"}"/>')
            label = f"{v / 1000:g} ms"
            o.append(f'<text x="{L["x"] - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'fill="{"#000" if major else "#777"}">{label}</text>')
        d *= 10
    for p, label in [(0, "0%"), (50, "50%"), (90, "90%"), (99, "99%"), (99.9, "99.9%"), (99.99, "99.99%")]:
        x = X(nines(p))
        o.append(f'<line x1="{x:.1f}" y1="{L["y"]}" x2="{x:.1f}" y2="{L["y"] + L["h"]}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{L["y"] + L["h"] + 16}" text-anchor="middle">{label}</text>')
    xm = X(xmax_n + 0.4)
    o.append(f'<text x="{xm:.1f}" y="{L["y"] + L["h"] + 16}" text-anchor="middle">max</text>')
    o.append(f'<text x="{L["x"] + L["w"] / 2}" y="{L["y"] + L["h"] + 34}" text-anchor="middle">percentile</text>')
    # Curves.
    for c in configs:
        pts, mmed, mlo, mhi = curves[c]
        col = COLOURS.get(c, "#000")
        band = [(X(nines(p)), Y(hi)) for p, _, _, hi in pts] + [(X(nines(p)), Y(lo)) for p, _, lo, _ in reversed(pts)]
        o.append('<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in band) +
                 f'" fill="{col}" fill-opacity="0.15" stroke="none"/>')
        o.append('<polyline points="' + " ".join(f"{X(nines(p)):.1f},{Y(m):.1f}" for p, m, _, _ in pts) +
                 f'" fill="none" stroke="{col}" stroke-width="2"/>')
        o.append(f'<line x1="{xm:.1f}" y1="{Y(mhi):.1f}" x2="{xm:.1f}" y2="{Y(mlo):.1f}" stroke="{col}" '
                 'stroke-width="2" stroke-opacity="0.5"/>')
        o.append(f'<circle cx="{xm:.1f}" cy="{Y(mmed):.1f}" r="3.5" fill="{col}"/>')
    # Legend.
    ly = L["y"] + 14
    for c in configs:
        col = COLOURS.get(c, "#000")
        o.append(f'<line x1="{L["x"] + 12}" y1="{ly - 4}" x2="{L["x"] + 36}" y2="{ly - 4}" stroke="{col}" '
                 'stroke-width="3"/>')
        p99 = med([r["load"]["hello"]["p99_us"] for r in mix[c]])
        o.append(f'<text x="{L["x"] + 42}" y="{ly}">{escape(PLAIN.get(c, c))}: p99 {ms(p99)} ms</text>')
        ly += 18

    # Right panel: wrk throughput.
    R = {"x": 720, "y": 60, "w": 250, "h": 390}
    wc = [c for c in ORDER if c in wrk]
    if wc:
        o.append(f'<text x="{R["x"] - 20}" y="24" font-size="15" font-weight="bold">/hello throughput (wrk)</text>')
        o.append(f'<text x="{R["x"] - 20}" y="42" fill="#555">wrk, {meta.get("wrk_connections", "?")} connections; '
                 'whiskers: min–max</text>')
        vals = {c: [r["rps"] for r in wrk[c]] for c in wc}
        top = max(max(v) for v in vals.values()) * 1.15
        step = 10 ** math.floor(math.log10(top / 4))
        for k in (1, 2, 5, 10):
            if top / (step * k) <= 6:
                step *= k
                break
        o.append(f'<line x1="{R["x"]}" y1="{R["y"] + R["h"]}" x2="{R["x"] + R["w"]}" y2="{R["y"] + R["h"]}" '
                 'stroke="#333"/>')
        v = 0.0
        while v <= top:
            y = R["y"] + R["h"] * (1 - v / top)
            o.append(f'<line x1="{R["x"]}" y1="{y:.1f}" x2="{R["x"] + R["w"]}" y2="{y:.1f}" stroke="#eee"/>')
            o.append(f'<text x="{R["x"] - 6}" y="{y + 4:.1f}" text-anchor="end">{v / 1000:g}k</text>')
            v += step
        bw = R["w"] / len(wc)
        for i, c in enumerate(wc):
            col = COLOURS.get(c, "#000")
            m, lo, hi = med(vals[c]), min(vals[c]), max(vals[c])
            x0 = R["x"] + i * bw + bw * 0.15
            y = R["y"] + R["h"] * (1 - m / top)
            o.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{bw * 0.7:.1f}" height="{R["y"] + R["h"] - y:.1f}" '
                     f'fill="{col}" fill-opacity="0.8"/>')
            xc = x0 + bw * 0.35
            o.append(f'<line x1="{xc:.1f}" y1="{R["y"] + R["h"] * (1 - hi / top):.1f}" x2="{xc:.1f}" '
                     f'y2="{R["y"] + R["h"] * (1 - lo / top):.1f}" stroke="#000"/>')
            ytext = min(y, R["y"] + R["h"] * (1 - hi / top)) - 6  # above the whisker
            o.append(f'<text x="{xc:.1f}" y="{ytext:.1f}" text-anchor="middle">{m / 1000:.1f}k</text>')
            p99 = med([r["p99_us"] for r in wrk[c]])
            name = PLAIN.get(c, c).replace("jiffy ", "jiffy\u00a0")
            o.append(f'<text x="{xc:.1f}" y="{R["y"] + R["h"] + 16}" text-anchor="middle">{escape(name)}</text>')
            o.append(f'<text x="{xc:.1f}" y="{R["y"] + R["h"] + 31}" text-anchor="middle" fill="#555">'
                     f'p99 {ms(p99)} ms</text>')
        o.append(f'<text x="{R["x"] - 50}" y="{R["y"] + R["h"] / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 {R["x"] - 50} {R["y"] + R["h"] / 2})">requests/s</text>')
    foot = (f"bench/http_bench.sh, {meta.get('date', '')}, {meta.get('cpus', '?')} CPUs, Linux {meta.get('kernel', '?')}, "
            f"{meta.get('go', '')}")
    o.append(f'<text x="{L["x"]}" y="{H - 12}" fill="#777" font-size="11">{escape(foot)}</text>')
    o.append("</svg>")
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    ap = argparse.ArgumentParser(description="Tables and an SVG plot from bench/http_bench.sh's runs.jsonl")
    ap.add_argument("runs", help="runs.jsonl written by bench/http_bench.sh")
    ap.add_argument("--svg", help="write the plot here")
    a = ap.parse_args()
    meta, wrk, mix, closed = load(a.runs)
    out = []
    wrk_table(meta, wrk, out)
    mix_table(meta, mix, out)
    closed_table(meta, closed, out)
    machine_note(meta, wrk, mix, out)
    print("\n".join(out))
    if a.svg:
        if not mix and not wrk and not closed:
            sys.exit("plot_http_latency.py: no runs to plot")
        svg_plot(a.svg, meta, wrk, mix)
        print(f"(plot written to {a.svg})")


if __name__ == "__main__":
    main()
