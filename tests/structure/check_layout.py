#!/usr/bin/env python3
"""tests/structure/check_layout.py — the header layout's rules, checked.

The rules (docs/design.md, "Source layout"):
  1. No header under include/jiffy/ is longer than 500 lines: one concern
     per header.
  2. jiffy's headers include each other without cycles: every header
     compiles alone, and the include graph reads as layers.
  3. OS headers (<sys/...>, <unistd.h>, <signal.h>, ...: any <name.h>) are
     included only by detail/platform/, the one place a port to another OS
     rewrites. The public io.hpp and net.hpp are the exceptions: their API
     speaks in file descriptors, iovecs and socket addresses.
  4. The lock-only headers stay light: <jiffy/spinlock.hpp> and
     <jiffy/preempt.hpp> reach neither the scheduler (switching, run queues,
     the runtime), nor the poller, nor the signal layer, so a program that
     wants only the locks gets only the locks. Checked on the include graph
     and, with --cxx, on the preprocessed header itself (no epoll, no
     sigaction, no runtime_core in what the compiler sees).

Usage: check_layout.py [--cxx COMPILER] [include-dir]   (exit status 1 on
any violation, with one line per violation naming the file and the rule)
"""
import pathlib
import re
import subprocess
import sys

MAX_LINES = 500
OS_HEADER_EXCEPTIONS = {"io.hpp", "net.hpp"}
LIGHT_HEADERS = ["spinlock.hpp", "preempt.hpp"]
# What a light header must not reach, by path under include/jiffy/.
HEAVY = ["detail/runtime_core.hpp", "detail/switch.hpp", "detail/context.hpp", "detail/run_queue.hpp",
         "detail/platform/poller.hpp", "detail/platform/signals.hpp", "detail/preemption.hpp", "runtime.hpp"]

# What only the poller, the signal layer or the scheduler bring in (the
# fiber block forward-declares runtime_core; its definition must not come).
HEAVY_PATTERNS = [r"\bepoll_wait\b", r"\bsigaction\b", r"struct runtime_core\s*\{", r"\bjiffy_jump_context_v1\b"]

INCLUDE = re.compile(r'^\s*#\s*include\s*<([^>]+)>', re.M)


def preprocessed_problems(cxx, root):
    problems = []
    for light in LIGHT_HEADERS:
        run = subprocess.run([cxx, "-std=c++20", "-E", "-P", "-x", "c++", "-I", str(root), "-"],
                             input=f"#include <jiffy/{light}>\n", capture_output=True, text=True)
        if run.returncode != 0:
            problems.append(f"{light}: does not preprocess alone with {cxx}: {run.stderr.strip()[:400]}")
            continue
        for pattern in HEAVY_PATTERNS:
            if re.search(pattern, run.stdout):
                problems.append(f"{light}: its preprocessed text matches '{pattern}' (rule 4)")
    return problems


def main() -> int:
    args = sys.argv[1:]
    cxx = None
    if len(args) >= 2 and args[0] == "--cxx":
        cxx, args = args[1], args[2:]
    root = pathlib.Path(args[0] if args else pathlib.Path(__file__).resolve().parents[2] / "include")
    jiffy = root / "jiffy"
    headers = {p.relative_to(jiffy).as_posix(): p for p in sorted(jiffy.rglob("*.hpp"))}
    if not headers:
        print(f"check_layout: no headers under {jiffy}")
        return 1
    problems = []
    graph = {}
    for name, path in headers.items():
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{name}: {lines} lines, over the {MAX_LINES}-line limit (rule 1: one concern per header)")
        graph[name] = []
        for inc in INCLUDE.findall(text):
            if inc.startswith("jiffy/"):
                target = inc[len("jiffy/"):]
                if target not in headers:
                    problems.append(f"{name}: includes <{inc}>, which does not exist")
                else:
                    graph[name].append(target)
            elif inc.endswith(".h") and not name.startswith("detail/platform/") and name not in OS_HEADER_EXCEPTIONS:
                problems.append(f"{name}: includes OS header <{inc}> outside detail/platform/ (rule 3)")

    # Rule 2: depth-first search; a back edge is a cycle.
    state = {}
    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                problems.append("include cycle (rule 2): " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"
    for name in graph:
        if name not in state:
            visit(name, [])

    # Rule 4: the closure of each light header.
    for light in LIGHT_HEADERS:
        reached, todo = {light: None}, [light]
        while todo:
            node = todo.pop()
            for nxt in graph.get(node, []):
                if nxt not in reached:
                    reached[nxt] = node
                    todo.append(nxt)
        for heavy in HEAVY:
            if heavy in reached:
                chain, node = [], heavy
                while node is not None:
                    chain.append(node)
                    node = reached[node]
                problems.append(f"{light} reaches {heavy} (rule 4): " + " <- ".join(chain))

    if cxx:
        problems += preprocessed_problems(cxx, root)

    for p in problems:
        print("check_layout: " + p)
    if not problems:
        print(f"check_layout: {len(headers)} headers follow the layout rules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
