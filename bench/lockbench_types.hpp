// bench/lockbench_types.hpp — what lockbench.hpp's measurements take and
// give: the configuration of a contended run, its results, and the
// uncontended result. (Split from lockbench.hpp to keep each file short.)
#pragma once

#include <jiffy/options.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

namespace lockbench {

// Called by the controlling thread as the measured window opens and closes
// (after the warm-up; when the contenders are told to stop): for counters
// that should count that window only.
struct measure_hooks {
  virtual void start() {}
  virtual void stop() {}

 protected:
  ~measure_hooks() = default;
};

// --------------------------------------------------------- configuration ----

struct contention {
  unsigned contenders = 2;  // threads, or fibers when `fibers`
  bool fibers = false;
  unsigned workers = 1;                                     // fibers only: the runtime's workers
  jiffy::preempt_mode preempt = jiffy::preempt_mode::none;  // fibers only
  std::chrono::microseconds quantum{1000};                  // fibers only
  std::int64_t cs_ns = 0;                                   // busy work while holding the lock
  std::int64_t gap_ns = 0;                                  // busy work between a release and the next lock()
  unsigned cs_lines = 0;                                    // cache lines the critical section writes (shared)
  std::chrono::milliseconds duration{200};                  // measured time
  std::chrono::milliseconds warmup{-1};                     // unmeasured, first; < 0: duration / 4, at most 100 ms
  int pin_cpu = -1;                                         // >= 0: all threads (or workers) run on this CPU only
  // Otherwise, when not empty: thread (or worker) i runs on cpus[i % size()].
  std::vector<int> cpus{};
  measure_hooks* hooks = nullptr;  // told when the measured window opens and closes
};

// The CPU contender thread (or worker) i is pinned to; -1: none.
inline int cpu_of(const contention& c, unsigned i) {
  if (c.pin_cpu >= 0) return c.pin_cpu;
  return c.cpus.empty() ? -1 : c.cpus[i % c.cpus.size()];
}

// The CPU a contender was asked to run on: its thread's, or for fibers the
// one CPU all workers share (-1 when they have several: fibers move).
inline int requested_cpu(const contention& c, unsigned i) {
  if (!c.fibers) return cpu_of(c, i);
  int first = cpu_of(c, 0);
  for (unsigned w = 1; w < c.workers; ++w)
    if (cpu_of(c, w) != first) return -1;
  return first;
}

// Latency summary in nanoseconds.
struct latency {
  std::uint64_t count = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

struct result {
  contention config;
  double seconds = 0;  // the measured time, until every contender stopped
  std::uint64_t acquisitions = 0;
  double throughput = 0;                     // acquisitions per second
  std::vector<std::uint64_t> per_contender;  // acquisitions of each contender
  double spread = 0;                         // (max - min) / mean of per_contender, as a fraction
  latency acquire;                           // entering lock() to holding the lock
  latency handoff;                           // a release to the next (already waiting) holder's acquire
  std::uint64_t preemptions = 0;             // fibers: switches the runtime forced while measuring
  std::uint64_t violations = 0;              // critical sections another contender entered: a broken lock
  // Per contender, what it achieved rather than what was asked, in mean ns:
  // the critical section (holding to releasing, the busy work and the
  // harness's bookkeeping) and the gap (releasing to its next lock() call:
  // unlock(), the busy work, and on fibers any time other fibers ran).
  std::vector<double> achieved_cs_ns, achieved_gap_ns;
  // The process's CPU time (all its threads: contenders, and for fibers
  // the runtime's workers and monitor) over the measured window, per
  // acquisition; and that less the requested critical section and gap, the
  // lock's own cost in CPU time (lockhammer's "overhead"; spinning counts).
  double cpu_ns_per_acquisition = 0, overhead_ns = 0;
  // Per contender: the CPU it was asked to run on (requested_cpu, -1 for
  // none) and the CPUs sched_getcpu() gave as its measurement began (the
  // first time it saw the measured window open; one that waited in lock()
  // through all of it, as it stopped) and as it stopped.
  std::vector<int> cpu_requested, cpu_start, cpu_end;
  // --cs-lines: the writes the critical sections made to those lines, all
  // lines together, warm-up included (cs_lines x critical sections run).
  std::uint64_t cs_line_writes = 0;
};

struct uncontended_result {
  double ns_best = 0, ns_median = 0;  // per lock()+unlock() pair
  double ticks_best = 0, ticks_median = 0;
  std::uint64_t pairs = 0;
};

}  // namespace lockbench
