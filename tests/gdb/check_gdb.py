#!/usr/bin/env python3
"""Runs gdb_target under gdb in batch mode with tools/jiffy-gdb.py loaded and
checks the debugger view: `jiffy fibers` lists every fiber with its state,
class and priority, `jiffy bt ID` shows the function each fiber waits in, a
bad id gets a clear error, and the program runs on to a clean exit after
(so `jiffy bt` gave the thread its registers back).

Also checks, without gdb, that the script's table of saved-context offsets
(CONTEXT_LAYOUTS) agrees with the context switches' assembly, for x86-64
and AArch64 alike.

usage: check_gdb.py GDB_TARGET JIFFY_GDB_PY CONTEXT_HEADER_DIR
                    [--emulator "QEMU ARGS..." --sysroot DIR] [--skip REASON]
With --emulator (a cross build), the program runs under qemu-user's gdb
stub and gdb-multiarch attaches to it (target remote).
Exit status 77 means skipped (ctest's SKIP_RETURN_CODE), with the reason.
"""

import ast
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
TIMEOUT_S = 240

# name -> (class, priority, nice, state pattern, the function its backtrace must show)
EXPECTED = {
    "mutex-waiter": ("batch", 0, 5, r"parked on mutex 0x[0-9a-f]+$", "gdb_target_parked_on_mutex"),
    "cv-waiter": ("rr", 10, 0, r"parked on condition_variable 0x[0-9a-f]+$", "gdb_target_parked_on_condition"),
    "joiner": ("normal", 0, 0, r"parked on join of fiber (?P<joined>\d+)$", "gdb_target_joining"),
    "sleeper": ("idle", 0, 0, r"sleeping until [0-9.]+s \(monotonic; in [0-9.]+s\)$", "gdb_target_sleeping"),
    "yielder": ("normal", 0, 0, r"runnable$", "gdb_target_yielding"),
    "spinner": ("fifo", 50, 0, r"running on worker 0$", "gdb_target_spinning"),
    "main-fiber": ("normal", 0, 0, r"runnable \(not started\)$", "jiffy_context_start_v1"),
}

# Run by gdb once the target stops at jiffy_gdb_target_ready: each command's
# output between markers, for the checks below.
GDB_COMMANDS = r'''
import re
import gdb

def section(name, text):
    gdb.write("@@@ %s\n%s@@@ end\n" % (name, text))

def run(name, command):
    try:
        section(name, gdb.execute(command, to_string=True))
    except gdb.error as e:
        section(name, "ERROR: %s\n" % e)

listing = gdb.execute("jiffy fibers", to_string=True)
section("fibers", listing)
for line in listing.splitlines():
    m = re.match(r'\s*(\d+)\s+"([^"]*)"', line)
    if m:
        run("bt " + m.group(2), "jiffy bt " + m.group(1))
run("bad id", "jiffy bt 987654321")
run("main thread", "bt")
gdb.execute("continue")
'''


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_layouts(script, headers):
    """CONTEXT_LAYOUTS in the script against the assembly that saves the registers."""
    tree = ast.parse(open(script).read())
    layouts = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CONTEXT_LAYOUTS":
            layouts = ast.literal_eval(node.value)
    if layouts is None:
        fail("CONTEXT_LAYOUTS not found in " + script)

    x86 = open(os.path.join(headers, "context_x86_64.hpp")).read()
    jump = x86[x86.index("jiffy_jump_context_v1:") : x86.index(".size jiffy_jump_context_v1")]
    saved = {r: int(off, 16) for r, off in re.findall(r"movq %(r\w+), (0x[0-9a-f]+)\(%rsp\)", jump)}
    frame = int(re.search(r"leaq -(0x[0-9a-f]+)\(%rsp\), %rsp", jump).group(1), 16) + 8  # plus the return address
    pc = int(re.search(r"movq (0x[0-9a-f]+)\(%rsp\), %r8", jump).group(1), 16)
    want = {"frame": frame, "pc": pc, "regs": saved}
    got = {k: layouts["x86_64"][k] for k in want}
    if got != want:
        fail("x86-64 CONTEXT_LAYOUTS %s, but context_x86_64.hpp saves %s" % (got, want))

    a64 = open(os.path.join(headers, "context_aarch64.hpp")).read()
    jump = a64[a64.index("jiffy_jump_context_v1:") : a64.index(".size jiffy_jump_context_v1")]
    saved = {}
    for r1, r2, off in re.findall(r"stp (x\d+), (x\d+), \[sp, #(\d+)\]", jump):
        saved[r1], saved[r2] = int(off), int(off) + 8
    frame = int(re.search(r"sub sp, sp, #(\d+)", jump).group(1))
    if "ret" not in jump.split():
        fail("context_aarch64.hpp no longer resumes with `ret` (x30): the script's pc is x30's slot")
    want = {"frame": frame, "pc": saved["x30"], "regs": saved}
    got = {k: layouts["aarch64"][k] for k in want}
    if got != want:
        fail("AArch64 CONTEXT_LAYOUTS %s, but context_aarch64.hpp saves %s" % (got, want))


def sections(out):
    found = {}
    for m in re.finditer(r"^@@@ ([^\n]+)\n(.*?)^@@@ end$", out, re.S | re.M):
        found[m.group(1)] = m.group(2)
    return found


def option(args, name):
    if name not in args:
        return None
    i = args.index(name)
    value = args[i + 1]
    del args[i : i + 2]
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """Whether something listens on TCP `port` (read from /proc: a probe connection would take the stub's one)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in open(table).readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if int(local.split(":")[1], 16) == port and state == "0A":
                    return True
        except OSError:
            pass
    return False


def run_gdb(gdb, script, target, emulator, sysroot):
    """gdb's output (and, under an emulator, the program's)."""
    env = dict(os.environ)
    # LeakSanitizer cannot run under ptrace (it stops the world with it).
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as cmds:
        cmds.write(GDB_COMMANDS)
    base = [gdb, "-batch", "-nx", "-iex", "set debuginfod enabled off", "-ex", "set pagination off",
            "-ex", "handle SIGURG nostop noprint pass"]  # fmt: skip
    stub = None
    if emulator:
        port = free_port()
        stub = subprocess.Popen(
            shlex.split(emulator) + ["-g", str(port), target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not listening(port) and stub.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        command = base + ["-ex", "set sysroot " + sysroot, "-ex", "file " + target,
                          "-ex", "target remote 127.0.0.1:%d" % port, "-x", script,
                          "-ex", "break jiffy_gdb_target_ready", "-ex", "continue", "-x", cmds.name]  # fmt: skip
    else:
        command = base + ["-x", script, "-ex", "break jiffy_gdb_target_ready", "-ex", "run", "-x", cmds.name, target]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        env=env, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        if stub:
            out += stub.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        for p in (proc, stub):
            if p and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # gdb and the program it runs; the emulator
        out = proc.communicate()[0] + (stub.communicate()[0] if stub else "")
        print(out)
        fail("gdb did not finish within %d s" % TIMEOUT_S)
    finally:
        os.unlink(cmds.name)
    return out


def main():
    args = sys.argv[1:]
    skip = option(args, "--skip")
    emulator = option(args, "--emulator")
    sysroot = option(args, "--sysroot") or "/"
    target, script, headers = args
    check_layouts(script, headers)
    print("ok: the script's saved-context table matches the x86-64 and AArch64 switches")
    if skip:
        print("SKIP: " + skip)
        return SKIP
    gdb = shutil.which("gdb-multiarch" if emulator else "gdb")
    if not gdb:
        if emulator:
            print("SKIP: a cross build needs gdb-multiarch to debug the program under %s (apt-get install gdb-multiarch)"
                  % emulator.split()[0])  # fmt: skip
        else:
            print("SKIP: gdb is not installed (Debian: apt-get install gdb)")
        return SKIP
    out = run_gdb(gdb, script, target, emulator, sysroot)
    print(out)

    found = sections(out)
    if "fibers" not in found:
        fail("gdb never stopped at jiffy_gdb_target_ready, or `jiffy fibers` failed")
    listing = found["fibers"]
    rows = {}
    row = re.compile(r'^\s*(\d+)\s+"([^"]*)"\s+(\S+)\s+(\d+)\s+(-?\d+)\s+(.*?)\s*$')
    for line in listing.splitlines():
        m = row.match(line)
        if m:
            rows[m.group(2)] = (int(m.group(1)), m.group(3), int(m.group(4)), int(m.group(5)), m.group(6))
    if not re.search(r"^runtime 0x[0-9a-f]+: 2 workers, %d live fibers$" % len(EXPECTED), listing, re.M):
        fail("the listing's header does not say one runtime of 2 workers with %d fibers" % len(EXPECTED))
    if set(rows) != set(EXPECTED):
        fail("listed %s, expected %s" % (sorted(rows), sorted(EXPECTED)))
    for name, (cls, prio, nice, state, function) in EXPECTED.items():
        fid, got_cls, got_prio, got_nice, got_state = rows[name]
        if (got_cls, got_prio, got_nice) != (cls, prio, nice):
            fail("%s: class %s priority %d nice %d, expected %s %d %d" % (name, got_cls, got_prio, got_nice, cls, prio, nice))
        m = re.match(state, got_state)
        if not m:
            fail("%s: state %r, expected /%s/" % (name, got_state, state))
        if "joined" in m.groupdict() and int(m.group("joined")) != rows["cv-waiter"][0]:
            fail("joiner: joins fiber %s, expected cv-waiter's id %d" % (m.group("joined"), rows["cv-waiter"][0]))
        bt = found.get("bt " + name, "")
        if not re.search(r"^#\d+ .*\b%s\b" % function, bt, re.M):
            fail("jiffy bt of %s does not show %s:\n%s" % (name, function, bt))
        if not re.search(r"^#\d+ .*jiffy_context_start_v1", bt, re.M):
            fail("jiffy bt of %s does not reach the fiber's first frame:\n%s" % (name, bt))
    bad = found.get("bad id", "")
    if "ERROR: jiffy bt: no live fiber has id 987654321" not in bad:
        fail("jiffy bt of a bad id: %r" % bad)
    if not re.search(r"^#0 .*jiffy_gdb_target_ready", found.get("main thread", ""), re.M):
        fail("after jiffy bt, the stopped thread's own backtrace is not back: %r" % found.get("main thread"))
    if "gdb_target: released every fiber" not in out or "exited normally" not in out:
        fail("the program did not run on to a clean exit after gdb looked")
    print("ok: every fiber listed with its state, class and priority; each backtrace shows its function")
    return 0


if __name__ == "__main__":
    sys.exit(main())
