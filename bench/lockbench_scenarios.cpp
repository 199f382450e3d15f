// bench/lockbench_scenarios.cpp — `lockbench`'s scenario presets (see
// --help), the command-line options that override their values, and the
// measurement points a scenario expands to.
#include "lockbench_tool.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace lockbench::tool {
namespace {

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

// mcs_tp: the preemption-adaptive queue lock, the rival to jiffy's answer.
std::vector<std::string> convoy_locks() {
  return {"ck_ticket", "ck_mcs", "hp_ticket", "hp_mcs", "mcs_tp", "ticket", "mcs"};
}

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
  s.locks = {"spinlock", "hp_spinlock", "ticket", "hp_ticket", "mcs", "hp_mcs", "mcs_tp"};
  s.fibers = true;
  s.counts = {4};
  s.preempts = {jiffy::preempt_mode::full};
  s.quantum = std::chrono::microseconds(200);
  s.cs = {3000};
  s.gap = {10000};
  s.duration = std::chrono::milliseconds(400);
  return s;
}

// The cost of moving the lock's line: the classic locks and the baselines
// (fetch_add: one atomic instruction on a moved line).
sweep line_move_sweep(const options& o) {
  sweep s{.scenario = "line-move", .title = "line-move: one uncontended lock() on CPU "};
  s.locks = {"spinlock", "ticket", "mcs", "ck_fas", "ck_ticket", "ck_mcs", "clh", "pthread_spin", "std_mutex"};
  s.uncontended = true;
  s.line_move = true;
  s.counts = {1};
  s.duration = std::chrono::milliseconds(50);
  line_move_cpus(o, s.on, s.from);
  s.title.append(std::to_string(s.on)).append(", the lock's line last written on that CPU or on CPU ");
  s.title.append(std::to_string(s.from));
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
  if (name == "line-move") return {line_move_sweep(o)};
  if (name == "all") {
    std::vector<sweep> v = {uncontended_sweep(), threads_sweep(), fibers_sweep(), critical_section_sweep(),
                            gap_sweep()};
    for (sweep& s : convoy_sweeps()) v.push_back(s);
    v.push_back(lock_holder_preemption_sweep());
    v.push_back(line_move_sweep(o));
    return v;
  }
  return custom_sweeps(o);
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
  if (o.cs_lines && !s.uncontended) {
    s.cs_lines = *o.cs_lines;
    s.title.append(", ").append(std::to_string(s.cs_lines)).append(" cache lines written per critical section");
  }
  if (!s.uncontended && !s.line_move) {
    s.work = o.work;
    s.seed = o.seed;
    s.title.append(workload_title(s.work));
  }
  if (o.duration) s.duration = *o.duration;
  if (o.pin_cpu) s.pin_cpu = *o.pin_cpu;
  if (o.cpus) s.cpus = *o.cpus;
}

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
      n.say(name + " skipped: " + why_not_built(name));
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

// Uncontended sweeps always measure the baselines (their figures are what
// the others' are read against), first.
std::vector<const lock_entry*> with_baselines(std::vector<const lock_entry*> v) {
  std::vector<const lock_entry*> out;
  for (const lock_entry& e : all_locks())
    if (e.baseline) out.push_back(&e);
  for (const lock_entry* e : v)
    if (!e->baseline) out.push_back(e);
  return out;
}

// Whether a contended point can run this lock; says why not once.
bool runs_contended(const sweep& s, const lock_entry* e, unsigned count, notes& n) {
  if (e->baseline) {
    n.say(std::string(e->name) + " is a baseline, not a lock: measured uncontended only");
    return false;
  }
  if (std::string why = why_not_workload(*e, s); !why.empty()) {
    n.say(std::string(e->name) + " skipped: " + why);
    return false;
  }
  if (e->max_contenders && count > e->max_contenders) {
    n.say(std::string(e->name) + " skipped with more than " + std::to_string(e->max_contenders) +
          " contenders (it has a slot for each)");
    return false;
  }
  return true;
}

std::vector<point> expand(const sweep& s, notes& n) {
  std::vector<point> out;
  std::vector<const lock_entry*> locks = resolve_locks(s, n);
  if (s.line_move) {
    if (s.from < 0)
      n.say(std::string("line-move: this process may run on CPU ")
                .append(std::to_string(s.on))
                .append(" only: no line to move"));
    for (const lock_entry* e : with_baselines(locks))
      for (int from : {s.on, s.from})
        if (from >= 0)
          out.push_back({&s, e, lockbench::contention{.contenders = 1, .duration = s.duration, .pin_cpu = s.on}, from});
    return out;
  }
  if (s.uncontended) {
    for (const lock_entry* e : with_baselines(locks))
      out.push_back({&s, e, lockbench::contention{.contenders = 1, .duration = s.duration}});
    return out;
  }
  for (const lock_entry* e : locks) {
    for (std::int64_t cs : s.cs)
      for (std::int64_t gap : s.gap)
        for (unsigned count : s.counts) {
          if (!runs_contended(s, e, count, n)) continue;
          lockbench::contention c{
              .contenders = count, .cs_ns = cs, .gap_ns = gap, .duration = s.duration, .pin_cpu = s.pin_cpu};
          c.cpus = s.cpus;
          c.cs_lines = s.cs_lines;
          apply_workload(s, c);
          if (s.fibers)
            add_fiber_points(s, e, c, out, n);
          else
            out.push_back({&s, e, c});
        }
  }
  return out;
}

}  // namespace

std::vector<sweep> plan(const options& o) {
  std::vector<sweep> sweeps = preset(o.scenario, o);
  for (sweep& s : sweeps) apply_overrides(s, o);
  return sweeps;
}

// An option that only fiber (or thread) sweeps use must find one.
std::string inapplicable_option(const options& o) {
  bool any_fibers = false, any_threads = false;
  for (const sweep& s : preset(o.scenario, o)) {
    if (s.fibers)
      any_fibers = true;
    else if (!s.uncontended)
      any_threads = true;
  }
  auto check = [&](bool have, bool given, const char* opt, const char* kind) -> std::string {
    if (!given || have) return "";
    return std::string(opt) + " does not apply to scenario '" + o.scenario + "' (it runs no " + kind +
           "; --scenario custom builds a sweep from the options)";
  };
  for (std::string why : {check(any_fibers, o.fibers.has_value(), "--fibers", "fibers"),
                          check(any_fibers, o.workers.has_value(), "--workers", "fibers"),
                          check(any_fibers, o.preempts.has_value(), "--preempt", "fibers"),
                          check(any_fibers, o.quantum.has_value(), "--quantum-us", "fibers"),
                          check(any_threads, o.threads.has_value(), "--threads", "contended plain threads"),
                          check(any_threads || any_fibers, !o.work.first_given().empty(), o.work.first_given().c_str(),
                                "contended points")})
    if (!why.empty()) return why;
  return "";
}

std::vector<point> points_of(const std::vector<sweep>& sweeps, bool quiet) {
  notes n(quiet);
  std::vector<point> points;
  for (const sweep& s : sweeps)
    for (const point& p : expand(s, n)) points.push_back(p);
  return points;
}

}  // namespace lockbench::tool
