// bench/lockbench_options.cpp — `lockbench`'s command line: the options,
// --help, and the checks of every value (bench/support/cli.hpp: a bad one
// is named on stderr and the exit status is 2).
#include "lockbench_tool.hpp"
#include "support/cpu_topology.hpp"
#include "support/pinning.hpp"
#include "support/preempt_modes.hpp"

#include <algorithm>
#include <sched.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace lockbench::tool {
namespace {

constexpr const char* kSynopsis = "[--scenario NAME] [options]";

// What --help prints after the usage line.
constexpr const char* kHelp = R"(lockbench — what a lock costs: jiffy's spinlocks, their holder-preemptible
twins, jiffy::mutex, the OS's and other libraries' locks, and the classic
algorithms from the literature, on plain threads and on fibers.

Scenarios (presets; the options below override their values):
  uncontended             every lock, 1 thread: ns (and ticks) per lock+unlock
  threads                 1..2x cores plain threads on each lock: throughput,
                          fairness, acquisition and hand-off latency
  fibers                  1..2x cores fibers on <cores> workers, preemption none
                          and full (OS-blocking locks are skipped under full)
  critical-section        one thread per core, critical section 0..3 us
  gap                     one thread per core, work between acquisitions 0..3 us
  convoy                  fair spinlocks, 3 OS threads pinned to CPU 0, against
                          3 fibers on 1 worker (pinned to CPU 0) under full
                          preemption (1 ms quantum); 1 us critical section
  lock-holder-preemption  1 worker, full preemption (200 us quantum), 4 fibers,
                          3 us critical section, 10 us between acquisitions:
                          integrated against holder-preemptible spinlocks
  line-move               the cost of moving the lock's cache line: one
                          uncontended lock() on CPU A (the first of --cpus,
                          else --pin-cpu, else the first allowed CPU) timed
                          after CPU A, then CPU B (--from-cpu; default: the
                          first allowed CPU on another core) took and
                          released the lock last (as libslock and SSYNC
                          measure it); median and best of >= 1000 samples
                          per row, and the moved row less the same-CPU row
  all                     all of the above, one after another
  custom                  (the default) a sweep built from the options alone:
                          --threads and/or --fibers; plain threads 1..2x cores
                          when neither is given

Options (LIST: comma-separated values or ranges, e.g. 1,2,4 or 1-4):
  --scenario NAME       one of the scenarios above
  --locks LIST          lock names or groups (below); default: the preset's
  --threads LIST        contender counts on plain threads
  --fibers LIST         contender counts on fibers
  --workers LIST        fibers: runtime worker counts (default 1; fibers preset: cores)
  --preempt LIST        fibers: none, voluntary and/or full (default none). Under
                        none each fiber yields after every acquisition (else no
                        other fiber on its worker would run); under voluntary it
                        calls cond_resched() there; under full it does neither
  --quantum-us N        fibers: the runtime's quantum in us (>= 50; default 1000)
  --cs-ns LIST          busy work inside the critical section, ns (default: the
                        preset's; 50 for threads, fibers and custom)
  --cs-lines L          each critical section also writes L cache lines (64
                        bytes apart, shared by all contenders: the data the
                        lock protects, which moves with it); default 0
  --gap-ns LIST         busy work between a release and the next lock(), ns
                        (default: the preset's; 200 for threads, fibers, custom)

Workload (contended points; every lock in --locks must support what is
asked, or lockbench exits 2 naming it; a lock from a group is skipped):
  --lock-count K        K locks (default 1), each with its own --cs-lines of
                        data; every acquisition takes one of them
  --lock-choice NAME    which one: striped (the default: contender i takes
                        lock i, i+1, ... mod K in turn) or random
  --readers P           P% of acquisitions (0-100, drawn at random) take the
                        read side: lock_shared() on rw, hp_rw and
                        std_shared_mutex; an optimistic read_begin()/
                        read_retry() on seqlock and hp_seqlock (a read that
                        saw a writer runs again: the retries are counted).
                        Readers read the lock's lines, writers write them
  --trylock             acquire by try_lock() (try_lock_shared()) until it
                        succeeds, a pause between attempts; the failures are
                        counted. Latency runs from the first attempt
  --cs-dist NAME        the critical section's length: fixed (the default),
                        uniform on [0, 2 x --cs-ns], or exponential with mean
                        --cs-ns (per contender, a table of 4096 draws scaled
                        to that exact mean, made before the run)
  --long-hold-every N   every Nth acquisition of each contender holds the lock
  --long-hold-us U      U us longer (locktorture's long holds; give both). The
                        overhead figure subtracts the mean cs including them
  --ms N                duration of each measurement in ms (for uncontended: the
                        time spent per lock); every preset keeps its total to a
                        few seconds by default. Each contended measurement is
                        preceded by an unmeasured warm-up of a quarter of it
                        (at most 100 ms)
  --seconds S           the same in seconds (may be fractional)
  --repeat N            run every point N times (default 1), all points in a
                        new random order each time; report each figure's
                        median over the runs and, for the headline figures
                        (uncontended ns; acq/s and acquire p99), a 95%
                        confidence interval for that median (distribution-
                        free, from order statistics: needs N >= 6 to reach
                        95%; with fewer runs the interval is [min, max] and
                        its lower coverage is printed). --json keeps every
                        run's figures for bench/lockbench_compare.py
  --seed S              seed of that order (default: random; --json records it)
  --counters LIST       Linux perf counters per acquisition, over each contended
                        measurement (the whole process): cycles, instructions,
                        cache-misses, branch-misses (hardware: user space
                        only), context-switches, cpu-migrations, page-faults.
                        One the machine cannot count (no PMU in most VMs, or
                        perf_event_paranoid) is named with the reason and
                        left out. Every contended table is followed by CPU
                        time per acquisition (the process's CPU time over the
                        window / acquisitions) and overhead (that less the
                        requested critical section and gap: the lock's cost,
                        spinning included), with these counters beside them
  --pin-cpu N           run every contender thread (or worker) on CPU N only
                        (convoy pins to CPU 0); -1: no pinning
  --cpus LIST           pin contender thread i (on fibers: worker i) to the
                        i-th CPU of LIST (e.g. 1,0 or 0-3); with more
                        contenders than CPUs listed the list wraps round
                        (contender i takes CPU i mod its length). Every CPU
                        must be in the process's affinity mask
  --placement NAME      pin contenders (or workers) to the allowed CPUs in
                        an order read from /sys/devices/system/cpu/cpu*/
                        topology (package, core_id; siblings share both),
                        wrapping round as --cpus does:
                          compact     the SMT siblings of a core, then the
                                      next core of that package, then the
                                      next package
                          core-first  one per core of a package, then the
                                      siblings of that package's cores, then
                                      the next package
                          smt-first   a core's siblings together, cores
                                      alternating between packages
                          spread      one per core, alternating between
                                      packages; siblings last
                        (with one package and no SMT, as on a small VM, all
                        four are CPU number order). --cpus, --placement and
                        --pin-cpu exclude each other. Each contender's CPU
                        is sampled (sched_getcpu) as its measurement begins
                        and as it stops: --json lists them per contender
                        (cpu_requested, cpu_start, cpu_end), and a contender
                        found elsewhere than asked is reported on stderr
  --from-cpu N          line-move: the CPU that writes the lock's line
  --csv                 CSV on stdout (one header line, one line per measurement)
  --json                JSON on stdout: every figure, each contender's achieved
                        critical section and gap, the command line, the seed,
                        and the machine and build ("environment", below)
  --svg FILE            also write an SVG plot against contenders in two panels,
                        throughput and p99 acquisition latency (log scale),
                        one line per lock (and per configuration when
                        several); with --repeat the lines are the medians
                        and a shaded band around each is its 95% confidence
                        interval (N >= 6 for 95%; fewer: [min, max])
  --svg-title TEXT      the plot's title (default: lockbench SCENARIO)
  --svg-log             give the throughput panel a logarithmic y axis (fair spinlocks on
                        oversubscribed cores fall by orders of magnitude)
  --progress            show progress on stderr even when it is not a terminal
  --quiet               no progress and no notes on stderr
  --list-locks          print the lock names and exit
  -h, --help            this text

Lock names: spinlock, ticket, mcs, rw, seqlock (jiffy's integrated locks:
preemption disabled while held), hp_spinlock, hp_ticket, hp_mcs, hp_rw,
hp_seqlock (jiffy_bench::holder_preemptible::*, the same algorithms without
the integration), jiffy_mutex, std_mutex, std_shared_mutex, pthread_spin,
ck_fas, ck_ticket, ck_mcs (Concurrency Kit); the roster from the literature
(bench/locks/): clh, anderson (64 slots: points with more contenders are
skipped), ticket_backoff (proportional backoff), hemlock, mcs_tp (MCS with
time-published waiters, after MCS-TP); other libraries: tbb_spin,
tbb_queuing (oneTBB), absl_mutex (Abseil), pthread_adaptive (glibc's
PTHREAD_MUTEX_ADAPTIVE_NP). rw and std_shared_mutex are measured with their
exclusive lock(), seqlock with its writer lock. Locks that wait in the
kernel or inside a shared library, where a fiber cannot be preempted
(std_mutex, std_shared_mutex, pthread_spin, absl_mutex, pthread_adaptive),
are skipped on fibers under full preemption. Baselines, measured
uncontended only and always listed there: empty (lock() and unlock() do
nothing: the harness's own cost) and fetch_add (one atomic instruction).
Groups: all, jiffy, hp, os, ck, roster, libs, queue, fair, baseline. --list-
locks shows what this build has.

Metrics: acq/s is acquisitions per second over all contenders; spread is
(max - min) / mean of the per-contender acquisition counts; acquire p50/p99/
p99.9/max time entering lock() to holding it; hand-off times the previous
holder's release to the next holder's acquire, counted when that holder was
already waiting; preempt counts the runtime's forced switches (fibers). A
fiber switched out between its time stamp and lock() has that time counted
too: rare, it shows in max (a few quanta) even for locks nobody waits on. Ticks
come from the CPU's counter (printed in the header line: rdtsc on x86-64,
reference cycles at a constant rate; cntvct_el0 on AArch64).

Every critical section also checks that no other contender is inside it; a
lock that fails this is reported on stderr as BROKEN LOCK.

Environment: the header line and --json name the CPU model, logical CPUs,
physical cores and packages, kernel, compiler, build flags and jiffy's git
revision (--json adds the governor and turbo state where /sys shows them, the
load averages, and the share of the CPUs other processes and the hypervisor
took during the run). lockbench warns (stderr, unless --quiet; and in the
JSON) when the governor is not `performance`, turbo is on, other processes
kept the CPUs more than 10% busy, or steal exceeded 5%: lock figures taken
then are disturbed.

Exit status: 0 on success, 2 on a bad argument (a CPU list or placement
included), 1 when a file cannot be written, 3 when a lock let two
contenders in at once.
)";

using bench::cli::args;

std::vector<std::string> split(const args& a, const std::string& s) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty()) a.fail(a.name() + ": empty item in '" + s + "'");
    parts.push_back(part);
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

// The current option's value as a list of whole numbers from lo to hi:
// "1,2,4" or "1-4" or a mix.
std::vector<std::int64_t> int_list(args& a, std::int64_t lo, std::int64_t hi) {
  std::vector<std::int64_t> v;
  for (const std::string& part : split(a, a.text())) {
    std::size_t dash = part.find('-', 1);
    if (dash == std::string::npos) {
      v.push_back(a.integer_in(part, lo, hi));
      continue;
    }
    std::int64_t first = a.integer_in(part.substr(0, dash), lo, hi);
    std::int64_t last = a.integer_in(part.substr(dash + 1), lo, hi);
    if (last < first) a.fail(a.name() + ": the range '" + part + "' runs backwards");
    if (last - first > 1024) a.fail(a.name() + ": the range '" + part + "' is too long");
    for (std::int64_t i = first; i <= last; ++i) v.push_back(i);
  }
  return v;
}

std::vector<unsigned> counts(args& a) {
  std::vector<unsigned> v;
  for (std::int64_t x : int_list(a, 1, 4096)) v.push_back(static_cast<unsigned>(x));
  return v;
}

std::vector<jiffy::preempt_mode> preempt_modes(args& a) {
  std::vector<jiffy::preempt_mode> v;
  for (const std::string& p : split(a, a.text())) v.push_back(bench::preempt_mode_named(a, p));
  return v;
}

std::vector<std::string> locks(args& a, std::vector<std::string>& named) {
  std::vector<std::string> v;
  named.clear();
  for (const std::string& name : split(a, a.text())) {
    std::vector<std::string> group = lock_group(name);
    if (!group.empty()) {
      v.insert(v.end(), group.begin(), group.end());
    } else if (find_lock(name)) {
      v.push_back(name);
      named.push_back(name);
    } else if (std::string why = why_not_built(name); !why.empty()) {
      a.fail("--locks: " + name + " is not available: " + why);
    } else {
      a.fail("--locks: unknown lock '" + name + "'. Valid: " + valid_lock_names());
    }
  }
  return v;
}

std::vector<std::string> counter_names(args& a) {
  std::vector<std::string> v = split(a, a.text());
  for (const std::string& name : v)
    if (!is_counter_name(name)) a.fail("--counters: unknown counter '" + name + "'. Valid: " + valid_counter_names());
  return v;
}

const char* const scenario_names[] = {
    "uncontended", "threads", "fibers", "critical-section", "gap", "convoy", "lock-holder-preemption",
    "line-move",   "all",     "custom"};

// A CPU this process may run on, or exit 2 naming it.
int allowed_cpu(const args& a, std::int64_t cpu) {
  std::vector<int> allowed = bench::allowed_cpus();
  if (std::find(allowed.begin(), allowed.end(), cpu) != allowed.end()) return static_cast<int>(cpu);
  std::string why = a.name();  // appended: GCC 12's false -Wrestrict (see contenders_label)
  why.append(": CPU ").append(std::to_string(cpu)).append(" is not one this process may run on (its affinity mask: ");
  for (std::size_t i = 0; i < allowed.size(); ++i) why.append(i ? "," : "").append(std::to_string(allowed[i]));
  a.fail(why.append(")"));
}

const char* const placement_names[] = {"compact", "core-first", "smt-first", "spread"};

// Where contenders run, from --cpus, --placement and --pin-cpu: one of them.
void check_placement(const args& a, const options& o) {
  int given = (o.cpus && o.placement.empty()) + !o.placement.empty() + o.pin_cpu.has_value();
  if (given > 1) a.fail("--cpus, --placement and --pin-cpu each say where contenders run: give one of them");
  if (o.from_cpu && o.scenario != "line-move") a.fail("--from-cpu applies to --scenario line-move only");
  int on = -1, from = -1;
  if (o.from_cpu) line_move_cpus(o, on, from);
  if (o.from_cpu && *o.from_cpu == on)
    a.fail("--from-cpu: " + std::to_string(on) + " is the CPU line-move measures on; give another");
}

std::chrono::milliseconds seconds(args& a) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(a.number(0.001, 600) * 1000 + 0.5));
}

// The arguments joined by spaces; an argument with a space or a quote is
// quoted (for the JSON record, so that the run can be repeated).
std::string command_line_of(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i) s += ' ';
    if (arg.find_first_of(" '\"") == std::string::npos)
      s += arg;
    else
      s.append(1, '\'').append(arg).append(1, '\'');
  }
  return s;
}

[[noreturn]] void list_locks_and_exit() {
  for (const lock_entry& e : all_locks()) std::printf("%-18s %s\n", e.name, e.type);
  for (const std::string& name : unbuilt_locks())
    std::printf("(%s: not built; %s)\n", name.c_str(), why_not_built(name).c_str());
  std::exit(0);
}

}  // namespace

// --cpus: whole numbers or ranges, each a CPU this process may run on.
std::vector<int> cpu_list(args& a) {
  std::vector<int> v;
  for (std::int64_t cpu : int_list(a, 0, CPU_SETSIZE - 1)) v.push_back(allowed_cpu(a, cpu));
  return v;
}

// --placement: the allowed CPUs in that placement's order.
std::vector<int> placement_cpus(args& a, std::string& name) {
  std::size_t i = a.choice(placement_names);
  name = placement_names[i];
  const bench::placement how[] = {bench::placement::compact, bench::placement::core_first, bench::placement::smt_first,
                                  bench::placement::spread};
  return bench::placement_order(how[i], bench::allowed_cpus());
}

options parse_args(int argc, char** argv) {
  options o;
  args a(argc, argv, kSynopsis, kHelp);
  while (a.next()) {
    if (a.is("--scenario"))
      o.scenario = scenario_names[a.choice(scenario_names)];
    else if (a.is("--locks"))
      o.locks = locks(a, o.named_locks);
    else if (a.is("--threads"))
      o.threads = counts(a);
    else if (a.is("--fibers"))
      o.fibers = counts(a);
    else if (a.is("--workers"))
      o.workers = counts(a);
    else if (a.is("--preempt"))
      o.preempts = preempt_modes(a);
    else if (a.is("--quantum-us"))
      o.quantum = std::chrono::microseconds(a.integer(50, 10000000));
    else if (a.is("--cs-ns"))
      o.cs = int_list(a, 0, 100000000);
    else if (a.is("--cs-lines"))
      o.cs_lines = static_cast<unsigned>(a.integer(0, 65536));
    else if (a.is("--gap-ns"))
      o.gap = int_list(a, 0, 100000000);
    else if (a.is("--ms"))
      o.duration = std::chrono::milliseconds(a.integer(1, 600000));
    else if (a.is("--seconds"))
      o.duration = seconds(a);
    else if (a.is("--pin-cpu"))
      o.pin_cpu = static_cast<int>(a.integer(-1, lockbench::cores() - 1));
    else if (a.is("--cpus"))
      o.cpus = cpu_list(a);
    else if (a.is("--placement"))
      o.cpus = placement_cpus(a, o.placement);
    else if (a.is("--from-cpu"))
      o.from_cpu = allowed_cpu(a, a.integer(0, CPU_SETSIZE - 1));
    else if (a.is("--svg"))
      o.svg = a.text();
    else if (a.is("--svg-title"))
      o.svg_title = a.text();
    else if (a.is("--csv"))
      o.out = bench::output_format::csv;
    else if (a.is("--json"))
      o.out = bench::output_format::json;
    else if (a.is("--svg-log"))
      o.svg_log = true;
    else if (a.is("--progress"))
      o.progress = true;
    else if (a.is("--quiet"))
      o.quiet = true;
    else if (a.is("--counters"))
      o.counters = counter_names(a);
    else if (a.is("--repeat"))
      o.repeat = static_cast<unsigned>(a.integer(1, 1000));
    else if (a.is("--seed"))
      o.seed = static_cast<std::uint64_t>(a.integer(1, INT64_MAX));
    else if (a.is("--list-locks"))
      list_locks_and_exit();
    else if (!parse_workload_option(a, o))
      a.unknown();
  }
  if (std::string why = inapplicable_option(o); !why.empty()) a.fail(why);
  check_placement(a, o);
  check_workload(a, o);
  if (!o.seed) o.seed = std::random_device{}() | 1;
  o.command_line = command_line_of(argc, argv);
  return o;
}

}  // namespace lockbench::tool
