#!/usr/bin/env python3
"""bench/trace_timeline.py — draws a jiffy trace (the Chrome trace-event JSON
the built-in recorder writes: runtime_options::trace_file, JIFFY_TRACE) as an
SVG timeline: a row per worker, time left to right, each fiber's runs in its
own colour, and marks where fibers were preempted, rescheduled or made way for
a waking fiber, and where a preemption signal was deferred.

Usage:
  trace_timeline.py TRACE.json OUT.svg [--from MS] [--to MS] [--width PX] [--title TEXT]

--from/--to choose a window in milliseconds since the runtime started
(default: the whole trace); --width is the picture's width in pixels.
Python standard library only.
"""
import argparse
import colorsys
import hashlib
import json
import sys
from xml.sax.saxutils import escape

ROW, GAP, LABEL, TOP, AXIS = 26, 8, 150, 40, 30
MARKS = {  # instant name -> (colour, what the legend says)
    "preempted": ("#d62728", "preempted by signal"),
    "rescheduled": ("#ff7f0e", "rescheduled at a preemption point"),
    "wakeup_preempted": ("#9467bd", "made way for a waking fiber"),
    "preemption deferred": ("#222222", "signal deferred (unsafe point)"),
}


def colour_of(name):
    """A stable colour per fiber name (numbered unnamed fibers share one)."""
    if name.startswith("fiber-"):
        return "#9e9e9e"
    h = int(hashlib.md5(name.encode()).hexdigest()[:8], 16)
    r, g, b = colorsys.hls_to_rgb((h % 360) / 360.0, 0.45, 0.65)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def load(path):
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    return events, tracks


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trace")
    p.add_argument("out")
    p.add_argument("--from", dest="t0", type=float, default=None, help="window start, ms")
    p.add_argument("--to", dest="t1", type=float, default=None, help="window end, ms")
    p.add_argument("--width", type=int, default=1000)
    p.add_argument("--title", default=None)
    a = p.parse_args(argv)
    if a.width < 300:
        p.error(f"--width must be at least 300 (got {a.width})")
    if a.t0 is not None and a.t1 is not None and a.t1 <= a.t0:
        p.error(f"--to ({a.t1}) must be after --from ({a.t0})")
    return a


def draw(events, tracks, a):
    slices = [e for e in events if e["ph"] == "X"]
    marks = [e for e in events if e["ph"] == "i" and e["name"] in MARKS]
    if not slices:
        sys.exit("trace_timeline: the trace has no slices")
    t0 = a.t0 * 1000 if a.t0 is not None else min(e["ts"] for e in slices)
    t1 = a.t1 * 1000 if a.t1 is not None else max(e["ts"] + e["dur"] for e in slices)
    used = sorted({e["tid"] for e in slices if e["ts"] < t1 and e["ts"] + e["dur"] > t0})
    plot_w = a.width - LABEL - 20
    x = lambda t: LABEL + (min(max(t, t0), t1) - t0) / (t1 - t0) * plot_w
    row_y = {tid: TOP + i * (ROW + GAP) for i, tid in enumerate(used)}
    names = []
    out, narrow = [], []  # runs under 2 px are drawn 2 px wide, last, so they stay visible
    for e in slices:
        if e["tid"] not in row_y or e["ts"] >= t1 or e["ts"] + e["dur"] <= t0:
            continue
        x0, x1, y = x(e["ts"]), x(e["ts"] + e["dur"]), row_y[e["tid"]]
        w = max(x1 - x0, 0.5)
        if e["name"] == "sleep":
            out.append(f'<rect x="{x0:.2f}" y="{y + ROW / 2 - 1}" width="{w:.2f}" height="2" fill="#cccccc"/>')
            continue
        if e["name"] not in names:
            names.append(e["name"])
        tip = f'{e["name"]} ({e["args"].get("class", "")}): {e["dur"]:.1f} us, left: {e["args"].get("left", "")}'
        if w < 2:
            narrow.append(f'<rect x="{x0:.2f}" y="{y}" width="2" height="{ROW}" fill="{colour_of(e["name"])}">'
                          f'<title>{escape(tip)}</title></rect>')
            continue
        out.append(f'<rect x="{x0:.2f}" y="{y}" width="{w:.2f}" height="{ROW}" fill="{colour_of(e["name"])}" '
                   f'stroke="white" stroke-width="0.3"><title>{escape(tip)}</title></rect>')
        if w > 7 * len(e["name"]):
            out.append(f'<text x="{x0 + 3:.2f}" y="{y + ROW / 2 + 4}" font-size="11" fill="white">'
                       f'{escape(e["name"])}</text>')
    out += narrow
    for e in marks:
        if e["tid"] not in row_y or not t0 <= e["ts"] <= t1:
            continue
        colour = MARKS[e["name"]][0]
        xm, y = x(e["ts"]), row_y[e["tid"]]
        out.append(f'<path d="M{xm - 4:.2f},{y - 7} L{xm + 4:.2f},{y - 7} L{xm:.2f},{y - 1} Z" fill="{colour}">'
                   f'<title>{escape(e["name"])}</title></path>')
    return used, row_y, names, out, t0, t1, x


def render(events, tracks, a):
    used, row_y, names, body, t0, t1, x = draw(events, tracks, a)
    height = TOP + len(used) * (ROW + GAP) + AXIS + 20 + 18 * ((len(names) + len(MARKS) + 2) // 3)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{a.width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{a.width}" height="{height}" fill="white"/>']
    if a.title:
        svg.append(f'<text x="{LABEL}" y="18" font-size="14" font-weight="bold">{escape(a.title)}</text>')
    for tid in used:
        svg.append(f'<text x="{LABEL - 8}" y="{row_y[tid] + ROW / 2 + 4}" text-anchor="end">'
                   f'{escape(tracks.get(tid, str(tid)))}</text>')
    svg += body
    axis_y = TOP + len(used) * (ROW + GAP) + 4
    svg.append(f'<line x1="{LABEL}" y1="{axis_y}" x2="{LABEL + (a.width - LABEL - 20)}" y2="{axis_y}" stroke="black"/>')
    span_ms = (t1 - t0) / 1000
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e9)
                if span_ms / s <= 10)
    tick = (t0 / 1000 // step + 1) * step if t0 / 1000 % step else t0 / 1000
    while tick <= t1 / 1000 + 1e-9:
        xt = x(tick * 1000)
        svg.append(f'<line x1="{xt:.2f}" y1="{axis_y}" x2="{xt:.2f}" y2="{axis_y + 5}" stroke="black"/>')
        svg.append(f'<text x="{xt:.2f}" y="{axis_y + 18}" text-anchor="middle">{tick:g} ms</text>')
        tick += step
    legend = [(colour_of(n), n, "rect") for n in names] + [(c, what, "mark") for c, what in MARKS.values()]
    legend.append(("#cccccc", "worker asleep", "line"))
    ly = axis_y + AXIS + 8
    col_w = (a.width - 20) // 3
    for i, (colour, text, kind) in enumerate(legend):
        lx, y = 10 + (i % 3) * col_w, ly + (i // 3) * 18
        if kind == "rect":
            svg.append(f'<rect x="{lx}" y="{y - 10}" width="14" height="12" fill="{colour}"/>')
        elif kind == "mark":
            svg.append(f'<path d="M{lx},{y - 10} L{lx + 12},{y - 10} L{lx + 6},{y} Z" fill="{colour}"/>')
        else:
            svg.append(f'<rect x="{lx}" y="{y - 5}" width="14" height="2" fill="{colour}"/>')
        svg.append(f'<text x="{lx + 20}" y="{y}">{escape(text)}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main(argv):
    a = parse_args(argv)
    try:
        events, tracks = load(a.trace)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"trace_timeline: cannot read the trace '{a.trace}': {e}")
    with open(a.out, "w") as f:
        f.write(render(events, tracks, a))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
