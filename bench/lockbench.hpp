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

inline double to_ns(double t) { return bench::ticks_to_ns(t); }

inline unsigned cores() noexcept {
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

// ------------------------------------------------------------ busy work ----

// n rounds of a loop the compiler cannot remove or vectorise (~1 cycle each).
[[gnu::noinline]] inline void burn(std::uint64_t n) noexcept {
  for (std::uint64_t i = 0; i < n; ++i) asm volatile("" : "+r"(i));
}

namespace detail {
// Rounds of burn() per nanosecond: the fastest of several trials, so that a
// trial disturbed by another process does not inflate the work.
inline double calibrate_burn_per_ns() {
  constexpr std::uint64_t rounds = 200000;
  double best = 1e300;
  for (int trial = 0; trial < 15; ++trial) {
    std::uint64_t t0 = bench::ticks_start();
    burn(rounds);
    double t = static_cast<double>(bench::ticks_stop() - t0);
    best = std::min(best, t);
  }
  return static_cast<double>(rounds) / to_ns(best);
}
}  // namespace detail

inline std::uint64_t burn_rounds_for(std::int64_t ns) {
  static const double per_ns = detail::calibrate_burn_per_ns();
  return ns <= 0 ? 0 : static_cast<std::uint64_t>(static_cast<double>(ns) * per_ns + 0.5);
}

// ------------------------------------------------------------ histogram ----

// Acquisition and hand-off times go into a log-linear histogram (3% buckets,
// exact maximum, nearest-rank percentiles): support/histogram.hpp.
using bench::histogram;

// ------------------------------------------------------------- plumbing ----

namespace detail {

// A forwarding wrapper: Clang's thread-safety analysis would flag it for
// taking a jiffy lock (a capability) in one function and releasing it in
// another, which is what it is for.
template <class Lock>
struct plain_handle {
  Lock* l;
  void lock() JIFFY_NO_THREAD_SAFETY_ANALYSIS { l->lock(); }
  void unlock() JIFFY_NO_THREAD_SAFETY_ANALYSIS { l->unlock(); }
};

// Each contender's view of the lock: the lock itself, or what contender() makes.
template <class Lock>
auto make_handle(Lock& l) {
  if constexpr (requires { l.contender(); })
    return l.contender();
  else
    return plain_handle<Lock>{&l};
}

template <class Lock>
std::size_t size_of(Lock& l) {
  if constexpr (requires { l.lockbench_size(); })
    return l.lockbench_size();
  else
    return sizeof(Lock);
}

template <class Lock>
struct alignas(128) padded {
  Lock lock;
};

// The contenders' start line and the phases of a run. Nothing is recorded
// during the warm-up: contenders on one core start one at a time, and the
// first to run would otherwise take the lock alone for a whole time slice.
enum phase : int { waiting, warming_up, measuring, stopped };

struct alignas(128) run_flags {
  std::atomic<unsigned> ready{0};
  std::atomic<int> phase{waiting};
};

// Written only by the lock's holder, read by the next: the lock orders it.
// `holder` checks mutual exclusion: set on entry, still ours on exit (relaxed
// atomics, so a broken lock is caught rather than being a data race).
struct alignas(128) handoff_mark {
  std::uint64_t released_at = 0;
  unsigned owner = ~0u;
  std::atomic<unsigned> holder{0};
};

struct alignas(128) contender_slot {
  std::uint64_t acquisitions = 0;
  std::uint64_t violations = 0;
  std::uint64_t cs_ticks = 0, gap_ticks = 0, gaps = 0;  // achieved lengths, summed
  int cpu_start = -1, cpu_end = -1;                     // sched_getcpu() as it saw the window open, and stopped
  histogram acquire, handoff;
};

// How a contender lets others on its worker run between acquisitions: under
// `none` nothing else would ever run, under `voluntary` it offers a
// preemption point; under `full` (and on threads) the scheduler decides.
enum class pacing { none, yield, cond_resched };

// A cache line the critical sections write (--cs-lines): data the lock protects.
struct alignas(64) protected_line {
  std::uint64_t writes = 0;
};

struct shared_run {
  run_flags flags;
  handoff_mark mark;
  std::uint64_t cs_rounds = 0, gap_rounds = 0;
  pacing pace = pacing::none;
  std::vector<contender_slot> slots;
  std::vector<protected_line> lines;  // contention::cs_lines of them
  std::chrono::steady_clock::time_point started, finished;
  double cpu_ns = 0;  // the process's CPU time over the measured window
};

// The process's CPU time, all threads, in ns.
inline double process_cpu_ns() noexcept {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

inline void wait_for_go(shared_run& s, bool fiber) {
  s.flags.ready.fetch_add(1, std::memory_order_acq_rel);
  while (s.flags.phase.load(std::memory_order_acquire) == waiting) {
    if (fiber)
      jiffy::this_fiber::yield();
    else
      std::this_thread::yield();
  }
}

inline void pace(pacing p) noexcept {
  if (p == pacing::yield)
    jiffy::this_fiber::yield();
  else if (p == pacing::cond_resched)
    jiffy::cond_resched();
}

// The measured loop. The time stamps around lock() and before unlock() are
// part of every acquisition, for every lock alike. An acquisition counts when
// its lock() began in the measuring phase.
template <class Handle>
void acquire_loop(Handle& h, shared_run& s, unsigned id) {
  contender_slot& me = s.slots[id];
  std::uint64_t n = 0;
  std::uint64_t my_last_release = 0;
  for (;;) {
    int ph = s.flags.phase.load(std::memory_order_relaxed);
    if (ph == measuring && me.cpu_start < 0) me.cpu_start = sched_getcpu();
    if (ph == stopped) break;
    std::uint64_t t0 = bench::ticks_start();
    h.lock();
    std::uint64_t t1 = bench::ticks_stop();
    if (ph == measuring) {
      me.acquire.add(t1 - t0);
      if (s.mark.owner != id && s.mark.owner != ~0u && s.mark.released_at > t0) me.handoff.add(t1 - s.mark.released_at);
      if (my_last_release) me.gap_ticks += t0 - my_last_release, ++me.gaps;
      ++n;
    }
    s.mark.holder.store(id + 1, std::memory_order_relaxed);
    for (protected_line& l : s.lines) ++l.writes;
    burn(s.cs_rounds);
    if (s.mark.holder.load(std::memory_order_relaxed) != id + 1) ++me.violations;
    s.mark.owner = id;
    s.mark.released_at = bench::ticks_stop();  // the critical section has completed
    my_last_release = s.mark.released_at;
    if (ph == measuring) me.cs_ticks += my_last_release - t1;
    h.unlock();
    burn(s.gap_rounds);
    pace(s.pace);
  }
  me.cpu_end = sched_getcpu();
  if (me.cpu_start < 0) me.cpu_start = me.cpu_end;  // it waited in lock() all the window
  me.acquisitions = n;
}

template <class Lock>
void contender_main(Lock& lock, shared_run& s, unsigned id, bool fiber) {
  auto h = make_handle(lock);
  wait_for_go(s, fiber);
  acquire_loop(h, s, id);
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
void run_on_threads(Lock& lock, shared_run& s, const contention& c) {
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < c.contenders; ++i)
    threads.emplace_back([&lock, &s, &c, i] {
      pin_this_thread(cpu_of(c, i));
      contender_main(lock, s, i, false);
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
std::uint64_t run_on_fibers(Lock& lock, shared_run& s, const contention& c) {
  jiffy::runtime rt({.workers = c.workers, .preempt = c.preempt, .quantum = c.quantum});
  pin_workers(rt, c);
  s.pace = pacing_for(c.preempt);
  std::vector<jiffy::fiber> fibers;
  for (unsigned i = 0; i < c.contenders; ++i)
    fibers.push_back(rt.spawn([&lock, &s, i] { contender_main(lock, s, i, true); }));
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
    acquire.merge(slot.acquire);
    handoff.merge(slot.handoff);
  }
  for (const protected_line& l : s.lines) r.cs_line_writes += l.writes;
  r.throughput = seconds > 0 ? static_cast<double>(r.acquisitions) / seconds : 0;
  r.spread = spread_of(r.per_contender);
  r.acquire = summarise(acquire);
  r.handoff = summarise(handoff);
  return r;
}

}  // namespace detail

// ---------------------------------------------------------------- public ----

// Contended run on an existing lock.
template <class Lock>
result measure(Lock& lock, const contention& c) {
  auto s = std::make_unique<detail::shared_run>();
  s->slots.resize(c.contenders);
  s->lines.resize(c.cs_lines);
  s->cs_rounds = burn_rounds_for(c.cs_ns);
  s->gap_rounds = burn_rounds_for(c.gap_ns);
  ticks_per_ns();  // calibrate before the clock starts
  std::uint64_t preemptions = 0;
  if (c.fibers)
    preemptions = detail::run_on_fibers(lock, *s, c);
  else
    detail::run_on_threads(lock, *s, c);
  double seconds = std::chrono::duration<double>(s->finished - s->started).count();
  result r = detail::collect(*s, c, seconds);
  r.preemptions = preemptions;
  if (r.acquisitions) {
    r.cpu_ns_per_acquisition = s->cpu_ns / static_cast<double>(r.acquisitions);
    r.overhead_ns = r.cpu_ns_per_acquisition - static_cast<double>(c.cs_ns + c.gap_ns);
  }
  return r;
}

// Contended run on a fresh, cache-line-aligned, default-constructed lock.
template <class Lock>
result measure(const contention& c) {
  auto p = std::make_unique<detail::padded<Lock>>();
  return measure(p->lock, c);
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
