// bench/lockbench.hpp — the harness behind the `lockbench` tool, for
// benchmarking any Lockable (a type with lock() and unlock()) the same way.
//
// What it measures, and how:
//  * measure_uncontended<L>(): one thread, lock()+unlock() in a loop, timed in
//    batches of 10000 pairs, after the process has started (and joined) a
//    second thread, as glibc's locks skip their atomics until then; the best
//    and the median batch are reported in nanoseconds and in clock ticks
//    (bench/support/ticks.hpp: x86-64 `rdtsc`, a constant-rate counter, so
//    reference cycles rather than core cycles; AArch64 `cntvct_el0`, the
//    generic timer; elsewhere steady_clock ns). The median is nearest-rank
//    (bench/support/percentile.hpp), as are the percentiles below.
//  * measure<L>(contention): N contenders — plain threads, or fibers on a
//    jiffy::runtime with W workers and a preemption model — take one lock in a
//    loop: lock(); cs_ns of busy work; unlock(); gap_ns of busy work — first
//    unmeasured for a warm-up (contenders sharing a core start one at a
//    time), then measured for a fixed duration. Every acquisition is timed
//    (from entering lock() to holding it) into a log-linear histogram (3%
//    buckets, exact max); a hand-off is timed from the previous holder's
//    release to the next holder's acquire when that holder was already
//    waiting. Per-contender counts give the
//    fairness spread: (max - min) / mean. Each critical section also checks
//    that nobody else entered it (result::violations: a broken lock). The
//    critical-section and gap lengths each contender achieved are kept
//    beside the requested ones (from the time stamps already taken), and
//    the process's CPU time per acquisition over the measured window, and
//    that less the requested critical section and gap: the lock's cost in
//    CPU time, spinning included (lockhammer's "overhead").
//  * The workload (lockbench_loop.hpp, which runs the loop): K locks with a
//    striped or random choice, a share of read-side acquisitions (rw locks,
//    seqlock readers), try_lock() instead of lock(), random critical-section
//    lengths and occasional long holds.
//  * Placement: contention::pin_cpu puts every thread (or worker) on one
//    CPU, contention::cpus thread (or worker) i on cpus[i % size]; each
//    contender samples sched_getcpu() as it sees the measured window open
//    and as it stops (result::cpu_start, cpu_end). contention::cs_lines
//    shared cache lines are written inside every critical section.
//    lockbench_line_move.hpp measures a lock() after another CPU wrote the
//    lock's line.
//  * Busy work is a calibrated arithmetic loop, not a clock wait, so a holder
//    preempted in the middle still has its remaining work to do.
//  * A fiber switched out between its first time stamp and entering lock()
//    has that time counted as acquisition latency; it is rare, but it can
//    put a few quanta into `max` even for a lock nobody ever waits on.
//
// Usage:
//   #include "lockbench.hpp"                      // needs jiffy on the include path
//   struct my_lock { void lock(); void unlock(); };
//   int main() {
//     lockbench::uncontended_result u = lockbench::measure_uncontended<my_lock>();
//     std::printf("%.1f ns per lock+unlock\n", u.ns_best);
//     lockbench::contention c{.contenders = 4, .cs_ns = 100, .gap_ns = 200};
//     lockbench::print(lockbench::measure<my_lock>(c), "my_lock");   // 4 threads
//     c.fibers = true, c.workers = 2, c.preempt = jiffy::preempt_mode::full;
//     lockbench::print(lockbench::measure<my_lock>(c), "my_lock");   // 4 fibers, 2 workers
//   }
//
// Optional hooks a lock type may provide (lockbench_ck.c's wrappers do):
//  * contender(): returns a per-contender object with lock()/unlock(), for
//    locks that need per-waiter state (an MCS queue node).
//  * lock_unlock_loop(n) on that object: runs n lock+unlock pairs itself (so
//    a lock compiled in another translation unit is not charged a call).
//  * lockbench_size(): the bytes to report instead of sizeof.
// Under `full` preemption a fiber can be switched out anywhere in the
// executable; a lock that blocks the OS thread (std::mutex, pthread locks)
// would then deadlock its worker, so do not measure those on fibers in `full`.
#pragma once

#include "lockbench_loop.hpp"
#include "lockbench_types.hpp"
#include "support/histogram.hpp"
#include "support/percentile.hpp"
#include "support/pinning.hpp"
#include "support/ticks.hpp"

#include <jiffy/runtime.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sched.h>
#include <thread>
#include <time.h>
#include <vector>

namespace lockbench {

// ---------------------------------------------------------------- clock ----

// Time stamps are bench::ticks_start()/ticks_stop() (support/ticks.hpp):
// fenced reads of the CPU's counter, so that the interval around lock()
// times lock() and nothing else (an unfenced read after lock() may be taken
// before the lock's atomic instruction has completed).
using bench::tick_source;
using bench::ticks_per_ns;

inline unsigned cores() noexcept {
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

namespace detail {

// The process's CPU time, all threads, in ns.
inline double process_cpu_ns() noexcept {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// cpu < 0: not pinned.
inline void pin_this_thread(int cpu) {
  if (cpu >= 0) bench::pin_this_thread(cpu);
}

inline std::chrono::milliseconds warmup_of(const contention& c) {
  if (c.warmup.count() >= 0) return c.warmup;
  return std::min(c.duration / 4, std::chrono::milliseconds(100));
}

// Lets the contenders go once all are ready, warms up, measures for the
// duration (calling on_measure() as it starts), tells them to stop.
template <class F>
void start_and_stop(shared_run& s, const contention& c, F on_measure) {
  while (s.flags.ready.load(std::memory_order_acquire) < c.contenders) std::this_thread::yield();
  s.flags.phase.store(warming_up, std::memory_order_release);
  std::this_thread::sleep_for(warmup_of(c));
  on_measure();
  if (c.hooks) c.hooks->start();
  s.started = std::chrono::steady_clock::now();
  double cpu0 = process_cpu_ns();
  s.flags.phase.store(measuring, std::memory_order_relaxed);
  std::this_thread::sleep_for(c.duration);
  s.flags.phase.store(stopped, std::memory_order_relaxed);
  s.cpu_ns = process_cpu_ns() - cpu0;
  if (c.hooks) c.hooks->stop();
}

template <class Lock>
void run_on_threads(const std::vector<Lock*>& locks, shared_run& s, const contention& c) {
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < c.contenders; ++i)
    threads.emplace_back([&locks, &s, &c, i] {
      pin_this_thread(cpu_of(c, i));
      contender_main(locks, s, i, false);
    });
  start_and_stop(s, c, [] {});
  for (std::thread& t : threads) t.join();
  s.finished = std::chrono::steady_clock::now();
}

inline pacing pacing_for(jiffy::preempt_mode m) {
  if (m == jiffy::preempt_mode::none) return pacing::yield;
  if (m == jiffy::preempt_mode::voluntary) return pacing::cond_resched;
  return pacing::none;
}

// Pins each worker's thread, from a fiber pinned to that worker.
inline void pin_workers(jiffy::runtime& rt, const contention& c) {
  for (unsigned w = 0; w < rt.workers(); ++w)
    if (int cpu = cpu_of(c, w); cpu >= 0) rt.spawn_pinned(w, [cpu] { pin_this_thread(cpu); }).join();
}

template <class Lock>
std::uint64_t run_on_fibers(const std::vector<Lock*>& locks, shared_run& s, const contention& c) {
  jiffy::runtime rt({.workers = c.workers, .preempt = c.preempt, .quantum = c.quantum});
  pin_workers(rt, c);
  s.pace = pacing_for(c.preempt);
  std::vector<jiffy::fiber> fibers;
  for (unsigned i = 0; i < c.contenders; ++i)
    fibers.push_back(rt.spawn([&locks, &s, i] { contender_main(locks, s, i, true); }));
  jiffy::runtime_stats before;
  start_and_stop(s, c, [&] { before = rt.stats(); });
  for (jiffy::fiber& f : fibers) f.join();
  s.finished = std::chrono::steady_clock::now();
  jiffy::runtime_stats after = rt.stats();
  return after.preemptions + after.voluntary_reschedules - before.preemptions - before.voluntary_reschedules;
}

inline latency summarise(const histogram& h) {
  latency l;
  l.count = h.count();
  l.p50 = to_ns(h.percentile(0.50));
  l.p99 = to_ns(h.percentile(0.99));
  l.p999 = to_ns(h.percentile(0.999));
  l.max = to_ns(static_cast<double>(h.max()));
  l.mean = to_ns(h.mean());
  return l;
}

inline double spread_of(const std::vector<std::uint64_t>& v) {
  if (v.empty()) return 0;
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  double sum = 0;
  for (std::uint64_t x : v) sum += static_cast<double>(x);
  double mean = sum / static_cast<double>(v.size());
  return mean > 0 ? static_cast<double>(*hi - *lo) / mean : 0;
}

inline double mean_ns(std::uint64_t ticks, std::uint64_t count) {
  return count ? to_ns(static_cast<double>(ticks) / static_cast<double>(count)) : 0;
}

inline result collect(const shared_run& s, const contention& c, double seconds) {
  result r;
  r.config = c;
  r.seconds = seconds;
  histogram acquire, handoff;
  for (const contender_slot& slot : s.slots) {
    r.cpu_requested.push_back(requested_cpu(c, static_cast<unsigned>(r.per_contender.size())));
    r.cpu_start.push_back(slot.cpu_start), r.cpu_end.push_back(slot.cpu_end);
    r.per_contender.push_back(slot.acquisitions);
    r.achieved_cs_ns.push_back(mean_ns(slot.cs_ticks, slot.acquisitions));
    r.achieved_gap_ns.push_back(mean_ns(slot.gap_ticks, slot.gaps));
    r.acquisitions += slot.acquisitions;
    r.violations += slot.violations;
    r.reads += slot.reads, r.read_retries += slot.read_retries;
    r.trylock_failures += slot.trylock_failures, r.long_holds += slot.long_holds;
    acquire.merge(slot.acquire);
    handoff.merge(slot.handoff);
  }
  for (std::size_t i = 0; i < std::size_t{c.lock_count} * c.cs_lines; ++i)
    r.cs_line_writes += s.lines[i].writes.load(std::memory_order_relaxed);
  r.throughput = seconds > 0 ? static_cast<double>(r.acquisitions) / seconds : 0;
  r.spread = spread_of(r.per_contender);
  r.acquire = summarise(acquire);
  r.handoff = summarise(handoff);
  return r;
}

}  // namespace detail

// ---------------------------------------------------------------- public ----

// Contended run on existing locks: c.lock_count of them (each acquisition
// takes one, as c.choice says).
template <class Lock>
result measure(const std::vector<Lock*>& locks, const contention& c) {
  if (locks.size() != c.lock_count || c.lock_count == 0 || c.readers_pct > 100) {
    std::fprintf(stderr, "lockbench::measure: %zu locks given for lock_count %u (readers_pct %u)\n", locks.size(),
                 c.lock_count, c.readers_pct);
    std::abort();
  }
  auto s = std::make_unique<detail::shared_run>(c);
  s->cs_rounds = burn_rounds_for(c.cs_ns);
  s->gap_rounds = burn_rounds_for(c.gap_ns);
  s->long_rounds = burn_rounds_for(c.long_hold_ns);
  ticks_per_ns();  // calibrate before the clock starts
  std::uint64_t preemptions = 0;
  if (c.fibers)
    preemptions = detail::run_on_fibers(locks, *s, c);
  else
    detail::run_on_threads(locks, *s, c);
  double seconds = std::chrono::duration<double>(s->finished - s->started).count();
  result r = detail::collect(*s, c, seconds);
  r.preemptions = preemptions;
  if (r.acquisitions) {
    r.cpu_ns_per_acquisition = s->cpu_ns / static_cast<double>(r.acquisitions);
    r.overhead_ns = r.cpu_ns_per_acquisition - requested_cs_ns(c) - static_cast<double>(c.gap_ns);
  }
  return r;
}

// Contended run on one existing lock (c.lock_count must be 1).
template <class Lock>
result measure(Lock& lock, const contention& c) {
  return measure<Lock>(std::vector<Lock*>{&lock}, c);
}

// Contended run on c.lock_count fresh, cache-line-aligned,
// default-constructed locks.
template <class Lock>
result measure(const contention& c) {
  std::unique_ptr<detail::padded<Lock>[]> p(new detail::padded<Lock>[c.lock_count]);
  std::vector<Lock*> locks;
  for (unsigned k = 0; k < c.lock_count; ++k) locks.push_back(&p[k].lock);
  return measure<Lock>(locks, c);
}

// The size to report for a lock: sizeof, or what lockbench_size() says.
template <class Lock>
std::size_t lock_size() {
  auto p = std::make_unique<detail::padded<Lock>>();
  return detail::size_of(p->lock);
}

// One line per run, for quick use; the lockbench tool prints fuller tables.
inline void print(const result& r, const char* name, std::FILE* out = stdout) {
  std::fprintf(out,
               "%-20s %3u %-7s %12.0f acq/s  spread %5.1f%%  acquire p50 %.0f p99 %.0f p99.9 %.0f max %.0f ns  "
               "hand-off p50 %.0f p99 %.0f ns\n",
               name, r.config.contenders, r.config.fibers ? "fibers" : "threads", r.throughput, 100 * r.spread,
               r.acquire.p50, r.acquire.p99, r.acquire.p999, r.acquire.max, r.handoff.p50, r.handoff.p99);
}

inline void print(const uncontended_result& r, const char* name, std::FILE* out = stdout) {
  std::fprintf(out, "%-20s %8.2f ns (median %.2f)  %8.1f ticks\n", name, r.ns_best, r.ns_median, r.ticks_best);
}

}  // namespace lockbench

#include "lockbench_uncontended.hpp"  // measure_uncontended()
