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

// --lock-choice: which of contention::lock_count locks an acquisition takes.
// striped: contender i takes lock i, i+1, i+2... (mod K) in turn, so the
// contenders spread evenly over the locks; random: a uniformly random one.
enum class lock_choice { striped, random };

// --cs-dist: the critical section's length, drawn per acquisition with mean
// contention::cs_ns: fixed (always cs_ns), uniform on [0, 2 cs_ns],
// exponential (memoryless: mostly short, a long tail).
enum class cs_distribution { fixed, uniform, exponential };

// A lock's read side, if any: lock_shared()/unlock_shared() (a rw lock), or
// read_begin()/read_retry() (a seqlock's optimistic readers).
enum class read_side { none, shared, sequence };

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
  // The workload (lockbench_loop.hpp says how each is run):
  unsigned lock_count = 1;                           // locks; each acquisition takes one of them
  lock_choice choice = lock_choice::striped;         // which one
  unsigned readers_pct = 0;                          // % of acquisitions on the read side (0-100)
  bool trylock = false;                              // acquire by spinning on try_lock(), counting failures
  cs_distribution cs_dist = cs_distribution::fixed;  // the critical section's length, mean cs_ns
  std::uint64_t long_hold_every = 0;                 // every Nth acquisition of a contender holds longer; 0: none
  std::int64_t long_hold_ns = 0;                     // that much longer
  std::uint64_t seed = 1;                            // of the random choices (locks, readers, lengths)
};

// The mean critical section asked for, long holds included, in ns.
inline double requested_cs_ns(const contention& c) {
  double cs = static_cast<double>(c.cs_ns);
  if (c.long_hold_every) cs += static_cast<double>(c.long_hold_ns) / static_cast<double>(c.long_hold_every);
  return cs;
}

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
  // The workload's own counts, over the measured window: acquisitions taken
  // on the read side (of `acquisitions`), seqlock reads that saw a writer
  // and ran again, try_lock() calls that failed (--trylock), and long holds.
  std::uint64_t reads = 0, read_retries = 0, trylock_failures = 0, long_holds = 0;
};

struct uncontended_result {
  double ns_best = 0, ns_median = 0;  // per lock()+unlock() pair
  double ticks_best = 0, ticks_median = 0;
  std::uint64_t pairs = 0;
};

}  // namespace lockbench
