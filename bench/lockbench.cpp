// bench/lockbench.cpp — `lockbench`: what a lock costs, for every jiffy lock
// and the usual alternatives, on plain threads and on fibers.
//
// What: the measurements are lockbench.hpp's (uncontended lock+unlock in ns
// and ticks; throughput, fairness spread, acquisition and hand-off latency
// percentiles under contention). This file adds the registry of locks (each
// jiffy lock and its holder_preemptible twin, jiffy::mutex, std::mutex,
// std::shared_mutex, pthread_spinlock_t, and Concurrency Kit's fas/ticket/mcs
// spinlocks when built with them: lockbench_ck.c), the scenario presets, the
// command line, and the output: a table on the terminal, --csv, --json, and
// an SVG plot of throughput against contenders written by hand (--svg).
//
// How: a scenario is a list of sweeps; a sweep is locks x contender counts x
// (workers x preemption models, for fibers) x critical-section lengths x gaps,
// each point one lockbench::measure() run. Command-line options override the
// preset's values. Progress goes to stderr when it is a terminal.
#include "lockbench.hpp"

#include <jiffy/spinlock.hpp>
#include <jiffy/sync.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <shared_mutex>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#ifndef JIFFY_LOCKBENCH_HAVE_CK
#define JIFFY_LOCKBENCH_HAVE_CK 0
#endif

// ------------------------------------------------------- Concurrency Kit ----

#if JIFFY_LOCKBENCH_HAVE_CK
// Must match lockbench_ck.c.
extern "C" {
struct lockbench_ck_ops {
  const char* name;
  std::size_t size;
  std::size_t waiter_size;
  void* (*create)(void);
  void* (*new_waiter)(void);
  void (*release)(void*);
  void (*lock)(void* lock, void* waiter);
  void (*unlock)(void* lock, void* waiter);
  void (*loop)(void* lock, void* waiter, unsigned long pairs);
};
const lockbench_ck_ops* lockbench_ck_get(int kind);
}

namespace {

// A CK lock behind lockbench_ck.c's table; Kind as lockbench_ck_get() takes it.
template <int Kind>
class ck_lock {
 public:
  // A contender's handle: its own waiter state (MCS node) and the lock.
  class waiter {
   public:
    waiter(const lockbench_ck_ops* ops, void* lock) : ops_(ops), lock_(lock) {
      if (ops_->new_waiter) node_ = ops_->new_waiter();
    }
    waiter(waiter&& o) noexcept : ops_(o.ops_), lock_(o.lock_), node_(std::exchange(o.node_, nullptr)) {}
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;
    waiter& operator=(waiter&&) = delete;
    ~waiter() {
      if (node_) ops_->release(node_);
    }
    void lock() { ops_->lock(lock_, node_); }
    void unlock() { ops_->unlock(lock_, node_); }
    void lock_unlock_loop(std::uint64_t n) { ops_->loop(lock_, node_, static_cast<unsigned long>(n)); }

   private:
    const lockbench_ck_ops* ops_;
    void* lock_;
    void* node_ = nullptr;
  };

  ck_lock() : ops_(lockbench_ck_get(Kind)), lock_(ops_->create()) {}
  ck_lock(const ck_lock&) = delete;
  ck_lock& operator=(const ck_lock&) = delete;
  ~ck_lock() { ops_->release(lock_); }

  waiter contender() { return waiter(ops_, lock_); }
  std::size_t lockbench_size() const { return ops_->size; }

 private:
  const lockbench_ck_ops* ops_;
  void* lock_;
};

}  // namespace
#endif

namespace {

// ------------------------------------------------------------ the locks ----

class pthread_spin {
 public:
  pthread_spin() { pthread_spin_init(&l_, PTHREAD_PROCESS_PRIVATE); }
  pthread_spin(const pthread_spin&) = delete;
  pthread_spin& operator=(const pthread_spin&) = delete;
  ~pthread_spin() { pthread_spin_destroy(&l_); }
  void lock() { pthread_spin_lock(&l_); }
  void unlock() { pthread_spin_unlock(&l_); }
  std::size_t lockbench_size() const { return sizeof l_; }

 private:
  pthread_spinlock_t l_;
};

struct lock_entry {
  const char* name;    // on the command line
  const char* type;    // what it is
  bool blocks_thread;  // waits in the OS: unusable on fibers under `full` preemption
  std::size_t (*size)();
  lockbench::uncontended_result (*uncontended)(std::chrono::milliseconds);
  lockbench::result (*contended)(const lockbench::contention&);
};

template <class Lock>
lock_entry entry(const char* name, const char* type, bool blocks_thread = false) {
  return {name,
          type,
          blocks_thread,
          &lockbench::lock_size<Lock>,
          &lockbench::measure_uncontended<Lock>,
          &lockbench::measure<Lock>};
}

namespace hp = jiffy::holder_preemptible;

const std::vector<lock_entry>& all_locks() {
  static const std::vector<lock_entry> locks = {
    entry<jiffy::spinlock>("spinlock", "jiffy::spinlock (TTAS)"),
    entry<hp::spinlock>("hp_spinlock", "jiffy::holder_preemptible::spinlock"),
    entry<jiffy::ticket_spinlock>("ticket", "jiffy::ticket_spinlock"),
    entry<hp::ticket_spinlock>("hp_ticket", "jiffy::holder_preemptible::ticket_spinlock"),
    entry<jiffy::mcs_spinlock>("mcs", "jiffy::mcs_spinlock"),
    entry<hp::mcs_spinlock>("hp_mcs", "jiffy::holder_preemptible::mcs_spinlock"),
    entry<jiffy::rw_spinlock>("rw", "jiffy::rw_spinlock (exclusive lock())"),
    entry<hp::rw_spinlock>("hp_rw", "jiffy::holder_preemptible::rw_spinlock (exclusive)"),
    entry<jiffy::seqlock>("seqlock", "jiffy::seqlock (writer lock)"),
    entry<hp::seqlock>("hp_seqlock", "jiffy::holder_preemptible::seqlock (writer)"),
    entry<jiffy::mutex>("jiffy_mutex", "jiffy::mutex (parks fibers)"),
    entry<std::mutex>("std_mutex", "std::mutex", true),
    entry<std::shared_mutex>("std_shared_mutex", "std::shared_mutex (exclusive lock())", true),
    entry<pthread_spin>("pthread_spin", "pthread_spinlock_t", true),
#if JIFFY_LOCKBENCH_HAVE_CK
    entry<ck_lock<0>>("ck_fas", "Concurrency Kit ck_spinlock_fas"),
    entry<ck_lock<1>>("ck_ticket", "Concurrency Kit ck_spinlock_ticket"),
    entry<ck_lock<2>>("ck_mcs", "Concurrency Kit ck_spinlock_mcs (+ node per waiter)"),
#endif
  };
  return locks;
}

const char* const ck_names[] = {"ck_fas", "ck_ticket", "ck_mcs"};

const lock_entry* find_lock(const std::string& name) {
  for (const lock_entry& e : all_locks())
    if (name == e.name) return &e;
  return nullptr;
}

bool is_ck_name(const std::string& name) {
  for (const char* n : ck_names)
    if (name == n) return true;
  return false;
}

// Named groups usable in --locks.
std::vector<std::string> lock_group(const std::string& g) {
  if (g == "all") {
    std::vector<std::string> v;
    for (const lock_entry& e : all_locks()) v.push_back(e.name);
    return v;
  }
  if (g == "jiffy") return {"spinlock", "ticket", "mcs", "rw", "seqlock", "jiffy_mutex"};
  if (g == "hp") return {"hp_spinlock", "hp_ticket", "hp_mcs", "hp_rw", "hp_seqlock"};
  if (g == "os") return {"std_mutex", "std_shared_mutex", "pthread_spin"};
  if (g == "ck") return {"ck_fas", "ck_ticket", "ck_mcs"};
  if (g == "fair") return {"ticket", "hp_ticket", "mcs", "hp_mcs", "ck_ticket", "ck_mcs"};
  return {};
}

// -------------------------------------------------------------- options ----

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "lockbench: %s\n(lockbench --help lists the options)\n", what.c_str());
  std::exit(2);
}

const char* const help_text = R"(lockbench — what a lock costs: jiffy's spinlocks, their holder_preemptible
twins, jiffy::mutex, std::mutex, std::shared_mutex, pthread_spinlock_t and
(when built with Concurrency Kit) ck_spinlock_fas/ticket/mcs, on plain threads
and on fibers.

usage: lockbench [--scenario NAME] [options]

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
                          integrated against holder_preemptible spinlocks
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
  --gap-ns LIST         busy work between a release and the next lock(), ns
                        (default: the preset's; 200 for threads, fibers, custom)
  --ms N                duration of each measurement in ms (for uncontended: the
                        time spent per lock); every preset keeps its total to a
                        few seconds by default. Each contended measurement is
                        preceded by an unmeasured warm-up of a quarter of it
                        (at most 100 ms)
  --seconds S           the same in seconds (may be fractional)
  --pin-cpu N           run every contender thread (or worker) on CPU N only
                        (convoy pins to CPU 0); -1: no pinning
  --csv                 CSV on stdout (one header line, one line per measurement)
  --json                JSON on stdout
  --svg FILE            also write an SVG plot of throughput against contenders,
                        one line per lock (and per configuration when several)
  --svg-log             give that plot a logarithmic y axis (fair spinlocks on
                        oversubscribed cores fall by orders of magnitude)
  --progress            show progress on stderr even when it is not a terminal
  --quiet               no progress and no notes on stderr
  --list-locks          print the lock names and exit
  -h, --help            this text

Lock names: spinlock, ticket, mcs, rw, seqlock (jiffy's integrated locks:
preemption disabled while held), hp_spinlock, hp_ticket, hp_mcs, hp_rw,
hp_seqlock (jiffy::holder_preemptible::*), jiffy_mutex, std_mutex,
std_shared_mutex, pthread_spin, ck_fas, ck_ticket, ck_mcs. rw and
std_shared_mutex are measured with their exclusive lock(), seqlock with its
writer lock. Groups: all, jiffy, hp, os, ck, fair.

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

Exit status: 0 on success, 2 on a bad argument, 1 when a file cannot be
written, 3 when a lock let two contenders in at once.
)";

struct options {
  std::string scenario = "custom";
  std::optional<std::vector<std::string>> locks;
  std::optional<std::vector<unsigned>> threads, fibers, workers;
  std::optional<std::vector<jiffy::preempt_mode>> preempts;
  std::optional<std::chrono::microseconds> quantum;
  std::optional<std::vector<std::int64_t>> cs, gap;
  std::optional<std::chrono::milliseconds> duration;
  std::optional<int> pin_cpu;
  enum class format { table, csv, json } out = format::table;
  std::string svg;
  bool svg_log = false, progress = false, quiet = false;
};

std::vector<std::string> split(const std::string& s, const std::string& opt) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty()) usage_error(opt + ": empty item in '" + s + "'");
    parts.push_back(part);
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

std::int64_t parse_int(const std::string& s, const std::string& opt, std::int64_t lo, std::int64_t hi) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0) usage_error(opt + ": '" + s + "' is not a whole number");
  if (v < lo || v > hi)
    usage_error(opt + ": " + s + " is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) + ")");
  return v;
}

// "1,2,4" or "1-4" or a mix.
std::vector<std::int64_t> parse_int_list(const std::string& s, const std::string& opt, std::int64_t lo,
                                         std::int64_t hi) {
  std::vector<std::int64_t> v;
  for (const std::string& part : split(s, opt)) {
    std::size_t dash = part.find('-', 1);
    if (dash == std::string::npos) {
      v.push_back(parse_int(part, opt, lo, hi));
      continue;
    }
    std::int64_t a = parse_int(part.substr(0, dash), opt, lo, hi);
    std::int64_t b = parse_int(part.substr(dash + 1), opt, lo, hi);
    if (b < a) usage_error(opt + ": the range '" + part + "' runs backwards");
    if (b - a > 1024) usage_error(opt + ": the range '" + part + "' is too long");
    for (std::int64_t i = a; i <= b; ++i) v.push_back(i);
  }
  return v;
}

std::vector<unsigned> parse_counts(const std::string& s, const std::string& opt) {
  std::vector<unsigned> v;
  for (std::int64_t x : parse_int_list(s, opt, 1, 4096)) v.push_back(static_cast<unsigned>(x));
  return v;
}

std::vector<jiffy::preempt_mode> parse_preempts(const std::string& s) {
  std::vector<jiffy::preempt_mode> v;
  for (const std::string& p : split(s, "--preempt")) {
    if (p == "none")
      v.push_back(jiffy::preempt_mode::none);
    else if (p == "voluntary")
      v.push_back(jiffy::preempt_mode::voluntary);
    else if (p == "full")
      v.push_back(jiffy::preempt_mode::full);
    else
      usage_error("--preempt: unknown model '" + p + "' (valid: none, voluntary, full)");
  }
  return v;
}

std::string valid_lock_names() {
  std::string s;
  for (const lock_entry& e : all_locks()) s += std::string(s.empty() ? "" : ", ") + e.name;
  return s + "; groups: all, jiffy, hp, os, ck, fair";
}

std::vector<std::string> parse_locks(const std::string& s) {
  std::vector<std::string> v;
  for (const std::string& name : split(s, "--locks")) {
    std::vector<std::string> group = lock_group(name);
    if (!group.empty()) {
      v.insert(v.end(), group.begin(), group.end());
    } else if (find_lock(name)) {
      v.push_back(name);
    } else if (is_ck_name(name)) {
      usage_error("--locks: " + name + " is not available: lockbench was built without Concurrency Kit (libck-dev)");
    } else {
      usage_error("--locks: unknown lock '" + name + "'. Valid: " + valid_lock_names());
    }
  }
  return v;
}

const char* const scenario_names[] = {
    "uncontended", "threads", "fibers", "critical-section", "gap", "convoy", "lock-holder-preemption", "all", "custom"};

std::string parse_scenario(const std::string& s) {
  for (const char* n : scenario_names)
    if (s == n) return s;
  std::string valid;
  for (const char* n : scenario_names) valid += std::string(valid.empty() ? "" : ", ") + n;
  usage_error("--scenario: unknown scenario '" + s + "' (valid: " + valid + ")");
}

std::chrono::milliseconds parse_seconds(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v >= 0.001 && v <= 600))
    usage_error("--seconds: '" + s + "' is not a number of seconds from 0.001 to 600");
  return std::chrono::milliseconds(static_cast<std::int64_t>(v * 1000 + 0.5));
}

[[noreturn]] void list_locks_and_exit() {
  for (const lock_entry& e : all_locks()) std::printf("%-18s %s\n", e.name, e.type);
  if (!JIFFY_LOCKBENCH_HAVE_CK) std::printf("(ck_fas, ck_ticket, ck_mcs: not built; needs libck-dev)\n");
  std::exit(0);
}

// Applies one option that takes a value.
void apply_valued(options& o, const std::string& opt, const std::string& v) {
  if (opt == "--scenario")
    o.scenario = parse_scenario(v);
  else if (opt == "--locks")
    o.locks = parse_locks(v);
  else if (opt == "--threads")
    o.threads = parse_counts(v, opt);
  else if (opt == "--fibers")
    o.fibers = parse_counts(v, opt);
  else if (opt == "--workers")
    o.workers = parse_counts(v, opt);
  else if (opt == "--preempt")
    o.preempts = parse_preempts(v);
  else if (opt == "--quantum-us")
    o.quantum = std::chrono::microseconds(parse_int(v, opt, 50, 10000000));
  else if (opt == "--cs-ns")
    o.cs = parse_int_list(v, opt, 0, 100000000);
  else if (opt == "--gap-ns")
    o.gap = parse_int_list(v, opt, 0, 100000000);
  else if (opt == "--ms")
    o.duration = std::chrono::milliseconds(parse_int(v, opt, 1, 600000));
  else if (opt == "--seconds")
    o.duration = parse_seconds(v);
  else if (opt == "--pin-cpu")
    o.pin_cpu = static_cast<int>(parse_int(v, opt, -1, lockbench::cores() - 1));
  else if (opt == "--svg")
    o.svg = v;
}

bool takes_value(const std::string& opt) {
  static const char* const valued[] = {"--scenario", "--locks",      "--threads", "--fibers", "--workers",
                                       "--preempt",  "--quantum-us", "--cs-ns",   "--gap-ns", "--ms",
                                       "--seconds",  "--pin-cpu",    "--svg"};
  for (const char* v : valued)
    if (opt == v) return true;
  return false;
}

// Applies one option without a value; false if there is no such option.
bool apply_flag(options& o, const std::string& opt) {
  if (opt == "-h" || opt == "--help") {
    std::fputs(help_text, stdout);
    std::exit(0);
  }
  if (opt == "--list-locks") list_locks_and_exit();
  if (opt == "--csv")
    o.out = options::format::csv;
  else if (opt == "--json")
    o.out = options::format::json;
  else if (opt == "--svg-log")
    o.svg_log = true;
  else if (opt == "--progress")
    o.progress = true;
  else if (opt == "--quiet")
    o.quiet = true;
  else
    return false;
  return true;
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    std::size_t eq = arg.find('=');
    bool inline_value = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (takes_value(arg)) {
      if (!inline_value) {
        if (i + 1 >= argc) usage_error(arg + " needs a value");
        value = argv[++i];
      }
      apply_valued(o, arg, value);
    } else if (inline_value) {
      usage_error(arg + " takes no value");
    } else if (!apply_flag(o, arg)) {
      usage_error("unknown option '" + arg + "'");
    }
  }
  return o;
}

// ------------------------------------------------------------ scenarios ----

struct sweep {
  std::string scenario, title;
  std::vector<std::string> locks{};
  bool uncontended = false;
  bool fibers = false;
  std::vector<unsigned> counts{};
  std::vector<unsigned> workers{1};
  std::vector<jiffy::preempt_mode> preempts{jiffy::preempt_mode::none};
  std::chrono::microseconds quantum{1000};
  std::vector<std::int64_t> cs{50}, gap{200};
  std::chrono::milliseconds duration{50};
  int pin_cpu = -1;
};

// 1..2x cores: every count up to 8, beyond that powers of two and the ends.
std::vector<unsigned> up_to_twice_cores() {
  unsigned top = 2 * lockbench::cores();
  std::vector<unsigned> v;
  for (unsigned n = 1; n <= top; ++n)
    if (top <= 8 || (n & (n - 1)) == 0 || n == top || n == top / 2) v.push_back(n);
  return v;
}

sweep uncontended_sweep() {
  sweep s{.scenario = "uncontended", .title = "uncontended: 1 thread, lock()+unlock() pairs"};
  s.locks = lock_group("all");
  s.uncontended = true;
  s.counts = {1};
  s.duration = std::chrono::milliseconds(100);
  return s;
}

sweep threads_sweep() {
  sweep s{.scenario = "threads", .title = "threads: plain threads on one lock"};
  s.locks = lock_group("all");
  s.counts = up_to_twice_cores();
  s.duration = std::chrono::milliseconds(40);
  return s;
}

sweep fibers_sweep() {
  sweep s{.scenario = "fibers", .title = "fibers: on one runtime, preemption none and full"};
  s.locks = lock_group("all");
  s.fibers = true;
  s.counts = up_to_twice_cores();
  s.workers = {lockbench::cores()};
  s.preempts = {jiffy::preempt_mode::none, jiffy::preempt_mode::full};
  s.duration = std::chrono::milliseconds(24);
  return s;
}

// The sweeps of critical-section length and of the work between
// acquisitions: one thread per core, on a cross-section of the locks.
std::vector<std::string> sweep_locks() {
  return {"spinlock", "ticket", "mcs", "jiffy_mutex", "std_mutex", "pthread_spin", "ck_fas"};
}

sweep critical_section_sweep() {
  sweep s{.scenario = "critical-section", .title = "critical-section length: one thread per core"};
  s.locks = sweep_locks();
  s.counts = {lockbench::cores()};
  s.cs = {0, 100, 300, 1000, 3000};
  s.gap = {200};
  return s;
}

sweep gap_sweep() {
  sweep s{.scenario = "gap", .title = "work between acquisitions: one thread per core"};
  s.locks = sweep_locks();
  s.counts = {lockbench::cores()};
  s.cs = {50};
  s.gap = {0, 100, 300, 1000, 3000};
  return s;
}

std::vector<std::string> convoy_locks() { return {"ck_ticket", "ck_mcs", "hp_ticket", "hp_mcs", "ticket", "mcs"}; }

std::vector<sweep> convoy_sweeps() {
  sweep t{.scenario = "convoy", .title = "convoy: fair spinlocks, OS threads sharing CPU 0"};
  t.locks = convoy_locks();
  t.counts = {3};
  t.cs = {1000};
  t.gap = {100};
  t.duration = std::chrono::milliseconds(200);
  t.pin_cpu = 0;
  sweep f = t;
  f.title = "convoy: fair spinlocks, fibers sharing 1 worker (on CPU 0), full preemption";
  f.fibers = true;
  f.preempts = {jiffy::preempt_mode::full};
  f.quantum = std::chrono::microseconds(1000);
  return {t, f};
}

sweep lock_holder_preemption_sweep() {
  sweep s{.scenario = "lock-holder-preemption", .title = "lock-holder preemption: 4 fibers, 1 worker, full preemption"};
  s.locks = {"spinlock", "hp_spinlock", "ticket", "hp_ticket", "mcs", "hp_mcs"};
  s.fibers = true;
  s.counts = {4};
  s.preempts = {jiffy::preempt_mode::full};
  s.quantum = std::chrono::microseconds(200);
  s.cs = {3000};
  s.gap = {10000};
  s.duration = std::chrono::milliseconds(400);
  return s;
}

std::vector<sweep> custom_sweeps(const options& o) {
  std::vector<sweep> v;
  if (o.threads || !o.fibers) {
    sweep s = threads_sweep();
    s.scenario = "custom";
    s.title = "custom: plain threads";
    v.push_back(s);
  }
  if (o.fibers) {
    sweep s = threads_sweep();
    s.scenario = "custom";
    s.title = "custom: fibers";
    s.fibers = true;
    v.push_back(s);
  }
  return v;
}

std::vector<sweep> preset(const std::string& name, const options& o) {
  if (name == "uncontended") return {uncontended_sweep()};
  if (name == "threads") return {threads_sweep()};
  if (name == "fibers") return {fibers_sweep()};
  if (name == "critical-section") return {critical_section_sweep()};
  if (name == "gap") return {gap_sweep()};
  if (name == "convoy") return convoy_sweeps();
  if (name == "lock-holder-preemption") return {lock_holder_preemption_sweep()};
  if (name == "all") {
    std::vector<sweep> v = {uncontended_sweep(), threads_sweep(), fibers_sweep(), critical_section_sweep(),
                            gap_sweep()};
    for (sweep& s : convoy_sweeps()) v.push_back(s);
    v.push_back(lock_holder_preemption_sweep());
    return v;
  }
  return custom_sweeps(o);
}

// An option that only fiber (or thread) sweeps use must find one.
void check_applicable(const std::vector<sweep>& sweeps, const options& o) {
  bool any_fibers = false, any_threads = false;
  for (const sweep& s : sweeps) {
    if (s.fibers)
      any_fibers = true;
    else if (!s.uncontended)
      any_threads = true;
  }
  const char* name = o.scenario.c_str();
  auto need = [&](bool have, bool given, const char* opt, const char* kind) {
    if (given && !have)
      usage_error(std::string(opt) + " does not apply to scenario '" + name + "' (it runs no " + kind +
                  "; --scenario custom builds a sweep from the options)");
  };
  need(any_fibers, o.fibers.has_value(), "--fibers", "fibers");
  need(any_fibers, o.workers.has_value(), "--workers", "fibers");
  need(any_fibers, o.preempts.has_value(), "--preempt", "fibers");
  need(any_fibers, o.quantum.has_value(), "--quantum-us", "fibers");
  need(any_threads, o.threads.has_value(), "--threads", "contended plain threads");
}

void apply_overrides(sweep& s, const options& o) {
  if (o.locks) s.locks = *o.locks;
  if (o.threads && !s.fibers && !s.uncontended) s.counts = *o.threads;
  if (o.fibers && s.fibers) s.counts = *o.fibers;
  if (o.workers && s.fibers) s.workers = *o.workers;
  if (o.preempts && s.fibers) s.preempts = *o.preempts;
  if (o.quantum && s.fibers) s.quantum = *o.quantum;
  if (o.cs) s.cs = *o.cs;
  if (o.gap) s.gap = *o.gap;
  if (o.duration) s.duration = *o.duration;
  if (o.pin_cpu) s.pin_cpu = *o.pin_cpu;
}

// ----------------------------------------------------------- measuring ----

struct row {
  std::string scenario, section;
  const lock_entry* lock = nullptr;
  std::size_t size = 0;
  bool uncontended = false;
  lockbench::uncontended_result u{};
  lockbench::result r{};
};

// A measurement point of a sweep.
struct point {
  const sweep* from;
  const lock_entry* lock;
  lockbench::contention c;
};

class progress {
 public:
  progress(bool on, std::size_t total) : on_(on), total_(total) {}
  void step(const point& p) {
    if (!on_) return;
    ++done_;
    std::fprintf(stderr, "\r\033[K[%zu/%zu] %s: %s, %u %s", done_, total_, p.from->scenario.c_str(), p.lock->name,
                 p.c.contenders,
                 p.from->uncontended ? "thread"
                 : p.c.fibers        ? "fibers"
                                     : "threads");
    std::fflush(stderr);
  }
  void finish() {
    if (on_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool on_;
  std::size_t total_, done_ = 0;
};

// Notes on stderr, each said once.
class notes {
 public:
  explicit notes(bool quiet) : quiet_(quiet) {}
  void say(const std::string& s) {
    for (const std::string& t : said_)
      if (t == s) return;
    said_.push_back(s);
    if (!quiet_) std::fprintf(stderr, "lockbench: note: %s\n", s.c_str());
  }

 private:
  bool quiet_;
  std::vector<std::string> said_;
};

// Resolves a sweep's lock names, dropping CK locks when they are not built.
std::vector<const lock_entry*> resolve_locks(const sweep& s, notes& n) {
  std::vector<const lock_entry*> v;
  for (const std::string& name : s.locks) {
    if (const lock_entry* e = find_lock(name))
      v.push_back(e);
    else
      n.say(name + " skipped: lockbench was built without Concurrency Kit (Debian: libck-dev)");
  }
  return v;
}

void add_fiber_points(const sweep& s, const lock_entry* e, lockbench::contention c, std::vector<point>& out, notes& n) {
  c.fibers = true;
  c.quantum = s.quantum;
  for (unsigned w : s.workers) {
    for (jiffy::preempt_mode m : s.preempts) {
      if (m == jiffy::preempt_mode::full && e->blocks_thread) {
        n.say(std::string(e->name) +
              " skipped on fibers under full preemption: a holder preempted there would deadlock its worker");
        continue;
      }
      c.workers = w;
      c.preempt = m;
      out.push_back({&s, e, c});
    }
  }
}

std::vector<point> expand(const sweep& s, notes& n) {
  std::vector<point> out;
  for (const lock_entry* e : resolve_locks(s, n)) {
    if (s.uncontended) {
      out.push_back({&s, e, lockbench::contention{.contenders = 1, .duration = s.duration}});
      continue;
    }
    for (std::int64_t cs : s.cs)
      for (std::int64_t gap : s.gap)
        for (unsigned count : s.counts) {
          lockbench::contention c{
              .contenders = count, .cs_ns = cs, .gap_ns = gap, .duration = s.duration, .pin_cpu = s.pin_cpu};
          if (s.fibers)
            add_fiber_points(s, e, c, out, n);
          else
            out.push_back({&s, e, c});
        }
  }
  return out;
}

row measure_point(const point& p) {
  row r{.scenario = p.from->scenario, .section = p.from->title, .lock = p.lock, .size = p.lock->size()};
  if (p.from->uncontended) {
    r.uncontended = true;
    r.u = p.lock->uncontended(p.c.duration);
  } else {
    r.r = p.lock->contended(p.c);
  }
  return r;
}

// ---------------------------------------------------------- formatting ----

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A duration in ns, in the unit that suits it.
std::string human_time(double ns) {
  if (ns < 1e3) return fmt("%.0f ns", ns);
  if (ns < 1e6) return fmt(ns < 1e4 ? "%.2f us" : "%.1f us", ns / 1e3);
  if (ns < 1e9) return fmt(ns < 1e7 ? "%.2f ms" : "%.1f ms", ns / 1e6);
  return fmt("%.2f s", ns / 1e9);
}

std::string human_rate(double v) {
  if (v >= 1e6) return fmt("%.2f M", v / 1e6);
  if (v >= 1e3) return fmt("%.1f k", v / 1e3);
  return fmt("%.0f", v);
}

const char* mode_name(jiffy::preempt_mode m) {
  switch (m) {
    case jiffy::preempt_mode::none:
      return "none";
    case jiffy::preempt_mode::voluntary:
      return "voluntary";
    case jiffy::preempt_mode::full:
      return "full";
  }
  return "?";
}

// "3 threads@cpu0", "4 fibers/1w full 200us".
std::string contenders_label(const lockbench::contention& c) {
  std::string s = std::to_string(c.contenders) + (c.fibers ? " fiber" : " thread") + (c.contenders == 1 ? "" : "s");
  if (c.fibers) {
    s += "/" + std::to_string(c.workers) + "w " + mode_name(c.preempt);
    if (c.preempt != jiffy::preempt_mode::none) s += " " + std::to_string(c.quantum.count()) + "us";
  }
  if (c.pin_cpu >= 0) s += "@cpu" + std::to_string(c.pin_cpu);
  return s;
}

void print_header_line(std::FILE* out) {
  std::fprintf(out, "lockbench: %u cores; ticks: %s, %.3f per ns\n", lockbench::cores(), lockbench::tick_source(),
               lockbench::ticks_per_ns());
}

void print_uncontended_table(const std::vector<const row*>& rows) {
  std::printf("%-17s %-52s %5s %10s %10s %10s\n", "lock", "type", "size", "ns best", "ns median", "ticks best");
  for (const row* r : rows)
    std::printf("%-17s %-52s %5zu %10.2f %10.2f %10.1f\n", r->lock->name, r->lock->type, r->size, r->u.ns_best,
                r->u.ns_median, r->u.ticks_best);
}

void print_contended_table(const std::vector<const row*>& rows) {
  std::printf("%-16s %4s %-27s %7s %7s %9s %7s %9s %9s %9s %9s %9s %9s %7s\n", "lock", "size", "contenders", "cs",
              "gap", "acq/s", "spread", "acq p50", "p99", "p99.9", "max", "handoff50", "handoff99", "preempt");
  for (const row* r : rows) {
    const lockbench::result& x = r->r;
    std::string preempt = x.config.fibers ? std::to_string(x.preemptions) : "-";
    std::printf("%-16s %4zu %-27s %7s %7s %9s %6.1f%% %9s %9s %9s %9s %9s %9s %7s\n", r->lock->name, r->size,
                contenders_label(x.config).c_str(), human_time(static_cast<double>(x.config.cs_ns)).c_str(),
                human_time(static_cast<double>(x.config.gap_ns)).c_str(), human_rate(x.throughput).c_str(),
                100 * x.spread, human_time(x.acquire.p50).c_str(), human_time(x.acquire.p99).c_str(),
                human_time(x.acquire.p999).c_str(), human_time(x.acquire.max).c_str(),
                x.handoff.count ? human_time(x.handoff.p50).c_str() : "-",
                x.handoff.count ? human_time(x.handoff.p99).c_str() : "-", preempt.c_str());
  }
}

const row* find_row(const std::vector<const row*>& rows, const char* lock) {
  for (const row* r : rows)
    if (std::strcmp(r->lock->name, lock) == 0) return r;
  return nullptr;
}

// "a / b = 1.23x (target <= 1.5x): met".
void print_ratio(const std::vector<const row*>& rows, const char* a, const char* b, double limit) {
  const row* ra = find_row(rows, a);
  const row* rb = find_row(rows, b);
  if (!ra || !rb) return;
  double ratio = ra->u.ns_best / rb->u.ns_best;
  std::printf("  %-12s / %-13s = %5.2fx  (target < %.2fx: %s)\n", a, b, ratio, limit,
              ratio < limit ? "met" : "NOT met");
}

void print_uncontended_targets(const std::vector<const row*>& rows) {
  std::printf("targets (best-batch ns ratios):\n");
  print_ratio(rows, "spinlock", "std_mutex", 1.0);
  print_ratio(rows, "spinlock", "pthread_spin", 1.0);
  print_ratio(rows, "spinlock", "ck_fas", 1.5);
  print_ratio(rows, "hp_spinlock", "ck_fas", 1.1);
  print_ratio(rows, "ticket", "ck_ticket", 1.5);
  print_ratio(rows, "mcs", "ck_mcs", 1.5);
}

// Integrated against holder_preemptible at the same configuration.
void print_lhp_targets(const std::vector<const row*>& rows) {
  std::printf("integrated vs holder_preemptible (target: p99 acquisition latency >= 10x lower):\n");
  const char* pairs[][2] = {{"spinlock", "hp_spinlock"}, {"ticket", "hp_ticket"}, {"mcs", "hp_mcs"}};
  for (auto& p : pairs) {
    const row* a = find_row(rows, p[0]);
    const row* b = find_row(rows, p[1]);
    if (!a || !b) continue;
    double ratio = b->r.acquire.p99 / std::max(a->r.acquire.p99, 1.0);
    std::printf("  %-9s p99 %9s vs %9s: %8.1fx lower (%s); max %9s vs %9s; throughput %.2fx\n", p[0],
                human_time(a->r.acquire.p99).c_str(), human_time(b->r.acquire.p99).c_str(), ratio,
                ratio >= 10 ? "met" : "NOT met", human_time(a->r.acquire.max).c_str(),
                human_time(b->r.acquire.max).c_str(), a->r.throughput / std::max(b->r.throughput, 1e-9));
  }
}

void print_convoy_summary(const std::vector<const row*>& rows) {
  std::printf("mean time between acquisitions (1 / throughput):\n");
  for (const row* r : rows)
    std::printf("  %-10s %-27s %9s\n", r->lock->name, contenders_label(r->r.config).c_str(),
                human_time(r->r.throughput > 0 ? 1e9 / r->r.throughput : 0).c_str());
}

void print_section(const std::string& title, const std::vector<const row*>& rows) {
  std::printf("\n== %s ==\n", title.c_str());
  if (rows.front()->uncontended) {
    print_uncontended_table(rows);
    if (rows.front()->scenario == "uncontended") print_uncontended_targets(rows);
  } else {
    print_contended_table(rows);
    if (rows.front()->scenario == "lock-holder-preemption") print_lhp_targets(rows);
  }
}

void print_tables(const std::vector<row>& rows) {
  print_header_line(stdout);
  std::vector<const row*> section;
  std::vector<const row*> convoy;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    section.push_back(&rows[i]);
    if (rows[i].scenario == "convoy") convoy.push_back(&rows[i]);
    if (i + 1 == rows.size() || rows[i + 1].section != rows[i].section) {
      print_section(rows[i].section, section);
      section.clear();
    }
  }
  if (!convoy.empty()) print_convoy_summary(convoy);
}

// A lock that let two contenders in at once is reported however quiet.
bool report_violations(const std::vector<row>& rows) {
  bool any = false;
  for (const row& r : rows) {
    if (r.uncontended || !r.r.violations) continue;
    any = true;
    std::fprintf(stderr, "lockbench: BROKEN LOCK: %s let another contender into %llu critical sections (%s)\n",
                 r.lock->name, static_cast<unsigned long long>(r.r.violations), contenders_label(r.r.config).c_str());
  }
  return any;
}

// --------------------------------------------------------------- csv ----

void print_csv(const std::vector<row>& rows) {
  std::printf(
      "scenario,lock,size,kind,contenders,workers,preempt,quantum_us,pin_cpu,cs_ns,gap_ns,seconds,acquisitions,"
      "throughput,spread,acq_p50_ns,acq_p99_ns,acq_p999_ns,acq_max_ns,acq_mean_ns,handoffs,handoff_p50_ns,"
      "handoff_p99_ns,handoff_p999_ns,handoff_max_ns,preemptions,uncontended_ns_best,uncontended_ns_median,"
      "uncontended_ticks_best,violations,per_contender\n");
  for (const row& r : rows) {
    std::printf("%s,%s,%zu,", r.scenario.c_str(), r.lock->name, r.size);
    if (r.uncontended) {
      std::printf("uncontended,1,,,,,,,,,,,,,,,,,,,,,,%.3f,%.3f,%.2f,,\n", r.u.ns_best, r.u.ns_median, r.u.ticks_best);
      continue;
    }
    const lockbench::result& x = r.r;
    const lockbench::contention& c = x.config;
    std::string per;
    for (std::uint64_t n : x.per_contender) {
      if (!per.empty()) per += ' ';
      per += std::to_string(n);
    }
    std::printf(
        "%s,%u,%u,%s,%lld,%d,%lld,%lld,%.4f,%llu,%.1f,%.4f,%.1f,%.1f,%.1f,%.1f,%.1f,%llu,%.1f,%.1f,%.1f,%.1f,"
        "%llu,,,,%llu,%s\n",
        c.fibers ? "fibers" : "threads", c.contenders, c.fibers ? c.workers : 0, c.fibers ? mode_name(c.preempt) : "",
        static_cast<long long>(c.fibers ? c.quantum.count() : 0), c.pin_cpu, static_cast<long long>(c.cs_ns),
        static_cast<long long>(c.gap_ns), x.seconds, static_cast<unsigned long long>(x.acquisitions), x.throughput,
        x.spread, x.acquire.p50, x.acquire.p99, x.acquire.p999, x.acquire.max, x.acquire.mean,
        static_cast<unsigned long long>(x.handoff.count), x.handoff.p50, x.handoff.p99, x.handoff.p999, x.handoff.max,
        static_cast<unsigned long long>(x.preemptions), static_cast<unsigned long long>(x.violations), per.c_str());
  }
}

// --------------------------------------------------------------- json ----

void json_latency(const char* key, const lockbench::latency& l) {
  std::printf(
      ", \"%s\": {\"count\": %llu, \"p50_ns\": %.1f, \"p99_ns\": %.1f, \"p999_ns\": %.1f, \"max_ns\": %.1f, "
      "\"mean_ns\": %.1f}",
      key, static_cast<unsigned long long>(l.count), l.p50, l.p99, l.p999, l.max, l.mean);
}

void json_contended(const lockbench::result& x) {
  const lockbench::contention& c = x.config;
  std::printf(", \"kind\": \"%s\", \"contenders\": %u", c.fibers ? "fibers" : "threads", c.contenders);
  if (c.fibers)
    std::printf(", \"workers\": %u, \"preempt\": \"%s\", \"quantum_us\": %lld", c.workers, mode_name(c.preempt),
                static_cast<long long>(c.quantum.count()));
  std::printf(
      ", \"pin_cpu\": %d, \"cs_ns\": %lld, \"gap_ns\": %lld, \"seconds\": %.4f, \"acquisitions\": %llu, "
      "\"throughput\": %.1f, \"spread\": %.4f, \"preemptions\": %llu, \"violations\": %llu, "
      "\"per_contender\": [",
      c.pin_cpu, static_cast<long long>(c.cs_ns), static_cast<long long>(c.gap_ns), x.seconds,
      static_cast<unsigned long long>(x.acquisitions), x.throughput, x.spread,
      static_cast<unsigned long long>(x.preemptions), static_cast<unsigned long long>(x.violations));
  for (std::size_t i = 0; i < x.per_contender.size(); ++i)
    std::printf("%s%llu", i ? ", " : "", static_cast<unsigned long long>(x.per_contender[i]));
  std::printf("]");
  json_latency("acquire", x.acquire);
  json_latency("handoff", x.handoff);
}

void print_json(const std::vector<row>& rows) {
  std::printf(
      "{\"tool\": \"lockbench\", \"cores\": %u, \"tick_source\": \"%s\", \"ticks_per_ns\": %.4f, "
      "\"results\": [",
      lockbench::cores(), lockbench::tick_source(), lockbench::ticks_per_ns());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    std::printf("%s\n  {\"scenario\": \"%s\", \"lock\": \"%s\", \"type\": \"%s\", \"size\": %zu", i ? "," : "",
                r.scenario.c_str(), r.lock->name, r.lock->type, r.size);
    if (r.uncontended)
      std::printf(
          ", \"kind\": \"uncontended\", \"ns_best\": %.3f, \"ns_median\": %.3f, \"ticks_best\": %.2f, "
          "\"ticks_median\": %.2f, \"pairs\": %llu",
          r.u.ns_best, r.u.ns_median, r.u.ticks_best, r.u.ticks_median, static_cast<unsigned long long>(r.u.pairs));
    else
      json_contended(r.r);
    std::printf("}");
  }
  std::printf("\n]}\n");
}

// ---------------------------------------------------------------- svg ----

struct series {
  std::string label;
  std::vector<std::pair<double, double>> points;  // contenders, acquisitions per second
};

// What distinguishes the contended rows: the label shows only what varies.
struct variation {
  bool config = false, cs = false, gap = false;
};

std::string config_key(const lockbench::contention& c) {
  lockbench::contention k = c;
  k.contenders = 0;
  return contenders_label(k).substr(2);  // drop the count
}

variation find_variation(const std::vector<const row*>& rows) {
  variation v;
  for (const row* r : rows) {
    const lockbench::contention& a = r->r.config;
    const lockbench::contention& b = rows.front()->r.config;
    v.config |= config_key(a) != config_key(b);
    v.cs |= a.cs_ns != b.cs_ns;
    v.gap |= a.gap_ns != b.gap_ns;
  }
  return v;
}

std::string series_label(const row& r, const variation& v) {
  std::string s = r.lock->name;
  if (v.config) s += " (" + config_key(r.r.config) + ")";
  if (v.cs) s += " cs " + human_time(static_cast<double>(r.r.config.cs_ns));
  if (v.gap) s += " gap " + human_time(static_cast<double>(r.r.config.gap_ns));
  return s;
}

std::vector<series> build_series(const std::vector<row>& rows) {
  std::vector<const row*> contended;
  for (const row& r : rows)
    if (!r.uncontended) contended.push_back(&r);
  variation v = find_variation(contended);
  std::vector<series> out;
  for (const row* r : contended) {
    std::string label = series_label(*r, v);
    auto it = std::find_if(out.begin(), out.end(), [&](const series& s) { return s.label == label; });
    if (it == out.end()) it = out.insert(out.end(), series{label, {}});
    it->points.emplace_back(r->r.config.contenders, r->r.throughput);
  }
  for (series& s : out) std::sort(s.points.begin(), s.points.end());
  return out;
}

// A "nice" axis step (1, 2 or 5 times a power of ten) giving about `ticks` steps.
double nice_step(double range, int ticks) {
  double raw = range / ticks;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '&')
      out += "&amp;";
    else if (ch == '<')
      out += "&lt;";
    else if (ch == '>')
      out += "&gt;";
    else
      out += ch;
  }
  return out;
}

// Where values land in the plot. A logarithmic y axis spans whole decades
// from y_min; a linear one starts at 0.
struct plot_frame {
  double left = 90, top = 50, width = 560, height = 380;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  bool log = false;
  double x(double v) const { return left + (x_max > x_min ? (v - x_min) / (x_max - x_min) : 0.5) * width; }
  double y(double v) const {
    double share = log ? (std::log10(std::max(v, y_min)) - std::log10(y_min)) / (std::log10(y_max) - std::log10(y_min))
                       : v / y_max;
    return top + height - share * height;
  }
};

plot_frame frame_for(const std::vector<series>& all, bool log) {
  plot_frame f;
  f.log = log;
  f.x_min = 1e300;
  f.x_max = -1e300;
  double y_top = 0, y_low = 1e300;
  for (const series& s : all)
    for (auto [x, y] : s.points) {
      f.x_min = std::min(f.x_min, x);
      f.x_max = std::max(f.x_max, x);
      y_top = std::max(y_top, y);
      if (y > 0) y_low = std::min(y_low, y);
    }
  if (all.empty()) f.x_min = 0, f.x_max = 1;
  if (y_top <= 0) y_top = 1, y_low = 1;
  if (log) {
    f.y_min = std::pow(10.0, std::floor(std::log10(y_low)));
    f.y_max = std::pow(10.0, std::max(std::ceil(std::log10(y_top)), std::log10(f.y_min) + 1));
  } else {
    double step = nice_step(y_top, 5);
    f.y_max = std::ceil(y_top / step) * step;
  }
  return f;
}

// The y axis' labelled values: decades, or nice steps from 0.
std::vector<double> y_ticks(const plot_frame& f) {
  std::vector<double> v;
  if (f.log) {
    for (double d = f.y_min; d <= f.y_max * 1.001; d *= 10) v.push_back(d);
  } else {
    double step = nice_step(f.y_max, 5);
    for (double d = 0; d <= f.y_max + step / 2; d += step) v.push_back(d);
  }
  return v;
}

void svg_axes(std::FILE* out, const plot_frame& f, const std::string& title) {
  std::fprintf(out, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n",
               f.left, f.top, f.width, f.height);
  for (double v : y_ticks(f))
    std::fprintf(out,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                 f.left, f.y(v), f.left + f.width, f.y(v), f.left - 6, f.y(v) + 4, human_rate(v).c_str());
  double xstep = std::max(1.0, nice_step(std::max(1.0, f.x_max - f.x_min), 8));
  for (double v = f.x_min; v <= f.x_max + 1e-9; v += xstep)
    std::fprintf(out,
                 "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
                 f.x(v), f.top, f.x(v), f.top + f.height, f.x(v), f.top + f.height + 18, v);
  std::fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">contenders</text>\n", f.left + f.width / 2,
               f.top + f.height + 42);
  std::fprintf(out,
               "<text transform=\"translate(22,%.1f) rotate(-90)\" text-anchor=\"middle\">acquisitions per second%s"
               "</text>\n",
               f.top + f.height / 2, f.log ? " (log scale)" : "");
  std::fprintf(out, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n",
               f.left + f.width / 2, xml_escape(title).c_str());
}

const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

void svg_series(std::FILE* out, const plot_frame& f, const series& s, std::size_t i) {
  const char* color = palette[i % 10];
  const char* dash = i / 10 % 2 ? " stroke-dasharray=\"6 3\"" : "";
  std::fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color, dash);
  for (auto [x, y] : s.points) std::fprintf(out, "%.1f,%.1f ", f.x(x), f.y(y));
  std::fprintf(out, "\"/>\n");
  for (auto [x, y] : s.points)
    std::fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", f.x(x), f.y(y), color);
  double ly = f.top + 8 + 18.0 * static_cast<double>(i), lx = f.left + f.width + 20;
  std::fprintf(out,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>"
               "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
               lx, ly, lx + 24, ly, color, dash, lx + 30, ly + 4, xml_escape(s.label).c_str());
}

bool write_svg(const std::string& path, const std::vector<row>& rows, const std::string& title, bool log) {
  std::vector<series> all = build_series(rows);
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (!out) return false;
  plot_frame f = frame_for(all, log);
  double height = std::max(f.top + f.height + 60, f.top + 20 + 18.0 * static_cast<double>(all.size()));
  std::fprintf(
      out,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1000\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      height);
  svg_axes(out, f, title);
  for (std::size_t i = 0; i < all.size(); ++i) svg_series(out, f, all[i], i);
  if (all.empty())
    std::fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no contended measurements to plot</text>\n",
                 f.left + f.width / 2, f.top + f.height / 2);
  std::fprintf(out, "</svg>\n");
  return std::fclose(out) == 0;
}

// --------------------------------------------------------------- main ----

std::vector<sweep> plan(const options& o) {
  std::vector<sweep> sweeps = preset(o.scenario, o);
  check_applicable(sweeps, o);
  for (sweep& s : sweeps) apply_overrides(s, o);
  return sweeps;
}

std::vector<row> run(const std::vector<sweep>& sweeps, const options& o) {
  notes n(o.quiet);
  std::vector<point> points;
  for (const sweep& s : sweeps)
    for (const point& p : expand(s, n)) points.push_back(p);
  progress bar(!o.quiet && (o.progress || isatty(STDERR_FILENO)), points.size());
  lockbench::ticks_per_ns();            // calibrate the clock
  (void)lockbench::burn_rounds_for(1);  // and the busy work, before the first point
  std::vector<row> rows;
  for (const point& p : points) {
    bar.step(p);
    rows.push_back(measure_point(p));
  }
  bar.finish();
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse_args(argc, argv);
  std::vector<sweep> sweeps = plan(o);
  std::vector<row> rows = run(sweeps, o);
  if (o.out == options::format::csv)
    print_csv(rows);
  else if (o.out == options::format::json)
    print_json(rows);
  else
    print_tables(rows);
  std::string title = "lockbench " + o.scenario + ": throughput against contenders";
  if (!o.svg.empty() && !write_svg(o.svg, rows, title, o.svg_log)) {
    std::fprintf(stderr, "lockbench: cannot write %s: %s\n", o.svg.c_str(), std::strerror(errno));
    return 1;
  }
  return report_violations(rows) ? 3 : 0;
}
