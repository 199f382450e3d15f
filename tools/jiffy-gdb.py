# jiffy-gdb.py — gdb commands that show a jiffy program's fibers.
#
#   (gdb) source tools/jiffy-gdb.py        or   gdb -x tools/jiffy-gdb.py ./program
#   (gdb) jiffy fibers                      every live fiber of every runtime
#   (gdb) jiffy bt ID [bt options]          a fiber's backtrace (`bt full`, `bt 5`, ...)
#
# How it works, and its limits:
#  * It starts at `jiffy::detail::live_runtimes` (include/jiffy/detail/
#    live_runtimes.hpp) and reads each runtime's lists of live fibers
#    (detail/live_fibers.hpp: a worker's slots, then its locked list). It
#    reads jiffy's structures by name, so the program needs debug
#    information (-g) for them.
#  * A fiber's state: "running on worker N" when a worker says it runs it;
#    else what its park record says (detail/fiber.hpp, park_record): "parked
#    on mutex 0x...", "sleeping until ...", "runnable (woken from ...)" when
#    a waker has claimed it; else "runnable" (queued, or not started yet).
#    Deadlines are CLOCK_MONOTONIC readings, shown against gdb's own clock.
#  * `jiffy bt` of a fiber that is switched out rebuilds its registers from
#    the context the switch saved on its stack (CONTEXT_LAYOUTS below, which
#    must match include/jiffy/detail/context_<arch>.hpp), writes them into
#    the selected thread for the length of one `bt`, and puts the thread's
#    own back. So it needs a live, stopped process (not a core file). Of a
#    running fiber it prints the backtrace of the worker thread running it.
#  * Tested on x86-64 and on AArch64 (qemu-user's gdb stub, gdb-multiarch):
#    tests/gdb/check_gdb.py.
#  * A thread stopped in the middle of a switch or of a list update may make
#    one fiber's state or backtrace stale; the walk over each list is
#    bounded.

import time

import gdb

# Where jump_context leaves a switched-out fiber's registers, as byte offsets
# from its saved stack pointer (fiber_control::sp). `frame` is what the switch
# pushed (the fiber's stack pointer once resumed is sp + frame); `pc` holds
# the address it resumes at; `regs` are the callee-saved registers it
# restores. x86-64: context_x86_64.hpp (MXCSR/x87 control word at 0, r12..rbp,
# then the return address). AArch64: context_aarch64.hpp (d8-d15 at 0-63,
# not restored here: only floating-point locals of frame 0 would show them;
# x19-x28, x29 (fp), x30 (lr, where `ret` resumes); FPCR at 160).
# Plain literals: tests/gdb/check_gdb.py reads this table and checks it
# against the headers' assembly.
CONTEXT_LAYOUTS = {
    "x86_64": {
        "sp_reg": "rsp",
        "pc_reg": "rip",
        "frame": 0x40,
        "pc": 0x38,
        "regs": {"r12": 0x08, "r13": 0x10, "r14": 0x18, "r15": 0x20, "rbx": 0x28, "rbp": 0x30},
    },
    "aarch64": {
        "sp_reg": "sp",
        "pc_reg": "pc",
        "frame": 176,
        "pc": 152,
        "regs": {
            "x19": 64, "x20": 72, "x21": 80, "x22": 88, "x23": 96, "x24": 104, "x25": 112, "x26": 120,
            "x27": 128, "x28": 136, "x29": 144, "x30": 152,
        },
    },
}

POLICIES = ["normal", "batch", "idle", "fifo", "rr"]  # jiffy::sched_policy, in order
NO_DEADLINE = (1 << 63) - 1  # no_deadline_ns
WAIT_PENDING = 0  # waiter state: not claimed yet
LIST_LIMIT = 10_000_000  # most fibers walked on one list (a list caught mid-update may loop)


def _arch():
    name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name or "x86_64" in name:
        return "x86_64"
    if "aarch64" in name:
        return "aarch64"
    raise gdb.GdbError("jiffy: no saved-context layout for architecture %s" % name)


def _read_u64(addr):
    return int.from_bytes(bytes(gdb.selected_inferior().read_memory(addr, 8)), "little")


def _atomic(value, type_name):
    """The contents of a std::atomic, read as `type_name` (same size and representation)."""
    return value.address.cast(gdb.lookup_type(type_name).pointer()).dereference()


def _pointers(value):
    """Every pointer inside `value` (fields and base classes, depth first, in layout order)."""
    t = value.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        yield value
        return
    if t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return
    for f in t.fields():
        if not hasattr(f, "bitpos"):  # a static member
            continue
        yield from _pointers(value[f])


def _pointer_to(value, type_name):
    """The raw pointer to `type_name` inside a smart pointer (std::unique_ptr, any library)."""
    for p in _pointers(value):
        if p.type.strip_typedefs().target().strip_typedefs().name == type_name:
            return p
    raise gdb.GdbError("jiffy: no %s* inside %s" % (type_name, value.type))


def _vector(value):
    """The elements of a std::vector: its first two pointers to the element type are begin and end."""
    elem = value.type.strip_typedefs().template_argument(0).strip_typedefs()
    ptrs = [p for p in _pointers(value) if p.type.strip_typedefs().target().strip_typedefs() == elem]
    begin, end = ptrs[0], ptrs[1]
    return [(begin + i).dereference() for i in range(int(end - begin))]


def _walk(head, next_field):
    seen = set()
    node = head
    while int(node) != 0 and len(seen) < LIST_LIMIT:
        if int(node) in seen:
            gdb.write("jiffy: a list loops (a thread stopped while changing it?); stopped walking\n")
            return
        seen.add(int(node))
        yield node
        node = node[next_field]


def runtimes():
    try:
        registry = gdb.parse_and_eval("jiffy::detail::live_runtimes")
    except gdb.error:
        raise gdb.GdbError(
            "jiffy: jiffy::detail::live_runtimes not found (is the program running, built with -g, using jiffy?)"
        )
    return list(_walk(registry["head"], "live_next"))


def workers(rt):
    """(worker*, label) for each worker and the main-thread worker."""
    out = []
    for w in _vector(rt["workers"]):
        p = _pointer_to(w, "jiffy::detail::worker")
        out.append((p, "worker %d" % int(p["index"])))
    out.append((_pointer_to(rt["main_worker"], "jiffy::detail::worker"), "the main thread"))
    return out


def _slots(lst):
    """The fibers in a list's slots (read in one go: thousands of slots, mostly empty)."""
    if not int(lst["has_slots"]):
        return []
    slots = lst["slots"]
    count = slots.type.strip_typedefs().range()[1] + 1
    ptr_type = gdb.lookup_type("jiffy::detail::fiber_control").pointer()
    size = ptr_type.sizeof
    raw = bytes(gdb.selected_inferior().read_memory(slots.address, count * size))
    # Both supported targets (x86-64, AArch64) are little-endian.
    addrs = (int.from_bytes(raw[i:i + size], "little") for i in range(0, len(raw), size))
    return [gdb.Value(a).cast(ptr_type) for a in addrs if a]


def fibers(rt):
    lists = [w["live_fibers"] for w, _ in workers(rt)] + [rt["spawned_outside"]]
    found = []
    for lst in lists:
        found.extend(_slots(lst))
        found.extend(_walk(lst["head"], "live_next"))
    return sorted(found, key=lambda f: int(f["id"]))


def running(rt):
    """fiber id -> (worker*, label) for the fibers the workers run now."""
    out = {}
    for w, label in workers(rt):
        fid = int(_atomic(w["running_fiber"], "unsigned long"))
        if fid:
            out[fid] = (w, label)
    return out


def fiber_name(f):
    return '"%s"' % f["name"].string() if int(f["name"]) else "fiber-%d" % int(f["id"])


def _context_start():
    try:
        return int(gdb.parse_and_eval("(unsigned long)&jiffy_context_start_v1"))
    except gdb.error:
        return None


def _when(deadline_ns):
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    delta = (deadline_ns - now) / 1e9
    when = "in %.1fs" % delta if delta >= 0 else "%.1fs ago" % -delta
    return "%.3fs (monotonic; %s)" % (deadline_ns / 1e9, when)


def fiber_state(f, runs):
    fid = int(f["id"])
    if fid in runs:
        return "running on " + runs[fid][1]
    p = f["parked"]
    if int(p["what"]):
        what = p["what"].string()
        if int(p["wait"]) and int(_atomic(p["wait"]["state"], "unsigned int")) != WAIT_PENDING:
            return "runnable (woken from %s)" % what
        until = int(p["until"])
        if what == "sleep":
            return "sleeping until " + _when(until)
        if what == "join":
            joined = p["object"].cast(f.type.pointer() if f.type.code != gdb.TYPE_CODE_PTR else f.type)
            on = "join of fiber %d" % int(joined["id"])
        else:
            on = "%s 0x%x" % (what, int(p["object"]))
        return "parked on " + on + ("" if until == NO_DEADLINE else ", until " + _when(until))
    if bool(f["async_preempted"]):
        return "runnable (preempted)"
    start = _context_start()
    if start is not None and _read_u64(int(f["sp"]) + CONTEXT_LAYOUTS[_arch()]["pc"]) == start:
        return "runnable (not started)"
    return "runnable"


def sched_class(f):
    s = f["sched"]
    policy = int(s["policy"])
    name = POLICIES[policy] if 0 <= policy < len(POLICIES) else "policy-%d" % policy
    boost = int(_atomic(f["boost_rank"], "unsigned char"))
    base = 1 + int(s["priority"]) if name in ("fifo", "rr") else (0 if name == "idle" else 1)
    return name, int(s["priority"]), int(s["nice"]), (" [boosted to rank %d]" % boost if boost > base else "")


def find_fiber(fid):
    for rt in runtimes():
        for f in fibers(rt):
            if int(f["id"]) == fid:
                return rt, f
    return None, None


class JiffyPrefix(gdb.Command):
    """Commands for jiffy programs: `jiffy fibers`, `jiffy bt ID`."""

    def __init__(self):
        super().__init__("jiffy", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class JiffyFibers(gdb.Command):
    """List every live fiber of every jiffy runtime: id, name, class, priority, nice, state."""

    def __init__(self):
        super().__init__("jiffy fibers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        rts = runtimes()
        if not rts:
            gdb.write("jiffy: no live runtime\n")
            return
        for rt in rts:
            fs = fibers(rt)
            runs = running(rt)
            gdb.write(
                "runtime 0x%x: %d workers, %d live fibers\n"
                % (int(rt), len(_vector(rt["workers"])), len(fs))
            )
            gdb.write("  %6s  %-24s %-7s %4s %4s  %s\n" % ("ID", "NAME", "CLASS", "PRIO", "NICE", "STATE"))
            for f in fs:
                cls, prio, nice, boost = sched_class(f)
                gdb.write(
                    "  %6d  %-24s %-7s %4d %4d  %s%s\n"
                    % (int(f["id"]), fiber_name(f), cls, prio, nice, fiber_state(f, runs), boost)
                )


class JiffyBacktrace(gdb.Command):
    """Print fiber ID's backtrace: jiffy bt ID [bt options].

    A switched-out fiber's registers are rebuilt from its saved context and
    written into the selected thread for one `bt` (then restored): a live,
    stopped process only. A running fiber's is its worker thread's."""

    def __init__(self):
        super().__init__("jiffy bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = arg.split(None, 1)
        if not args or not args[0].isdigit():
            raise gdb.GdbError("usage: jiffy bt ID [bt options] (jiffy fibers lists the ids)")
        fid = int(args[0])
        bt = "bt " + (args[1] if len(args) > 1 else "")
        rt, f = find_fiber(fid)
        if f is None:
            raise gdb.GdbError("jiffy bt: no live fiber has id %d (jiffy fibers lists them)" % fid)
        runs = running(rt)
        gdb.write("fiber %d %s: %s\n" % (fid, fiber_name(f), fiber_state(f, runs)))
        if fid in runs:
            gdb.write(self._running(rt, runs[fid][0], bt))
        else:
            gdb.write(self._switched_out(f, bt))

    @staticmethod
    def _running(rt, w, bt):
        # The main worker has no thread of its own: the one bound to serve it runs it.
        tid = int(_atomic(rt["main_thread"], "long")) if bool(w["serves_main"]) else int(w["os"]["tid"])
        for t in gdb.selected_inferior().threads():
            if t.ptid[1] == tid:
                was = gdb.selected_thread()
                t.switch()
                try:
                    return gdb.execute(bt, to_string=True)
                finally:
                    was.switch()
        raise gdb.GdbError("jiffy bt: no thread with LWP %d (the worker running the fiber)" % tid)

    @staticmethod
    def _switched_out(f, bt):
        layout = CONTEXT_LAYOUTS[_arch()]
        sp = int(f["sp"])
        regs = {r: _read_u64(sp + off) for r, off in layout["regs"].items()}
        regs[layout["pc_reg"]] = _read_u64(sp + layout["pc"])
        regs[layout["sp_reg"]] = sp + layout["frame"]
        level = gdb.selected_frame().level()
        frame = gdb.newest_frame()
        frame.select()
        saved = {r: int(frame.read_register(r)) & 0xFFFFFFFFFFFFFFFF for r in regs}
        try:
            for r, v in regs.items():
                gdb.execute("set $%s = 0x%x" % (r, v), to_string=True)
            return gdb.execute(bt, to_string=True)
        finally:
            for r, v in saved.items():
                gdb.execute("set $%s = 0x%x" % (r, v), to_string=True)
            gdb.execute("frame %d" % level, to_string=True)


JiffyPrefix()
JiffyFibers()
JiffyBacktrace()
