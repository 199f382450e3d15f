// bench/lockbench_loop.hpp — the loop every contender runs, the state the
// contenders share, and the workload options that shape each acquisition.
// (Split from lockbench.hpp, which starts the contenders and sums up.)
//
// One acquisition, in order:
//  1. Which lock: with contention::lock_count K > 1, contender i takes lock
//     i, i+1, ... (mod K) in turn (`striped`), or a random one (`random`).
//     Each lock has its own mark (hand-off, mutual-exclusion check) and its
//     own cs_lines of protected data.
//  2. Which side: with readers_pct P, P% of acquisitions (drawn at random)
//     take the read side, for locks that have one: lock_shared() and
//     unlock_shared() (jiffy::rw_spinlock, std::shared_mutex), or
//     read_begin()/read_retry() (jiffy::seqlock: a read that saw a writer
//     runs again, counted in read_retries). Readers read the lock's lines;
//     writers write them.
//  3. How: lock() (lock_shared()), or with `trylock` try_lock()
//     (try_lock_shared()) until it succeeds, a pause between attempts, each
//     failure counted. Acquisition latency runs from the first attempt.
//  4. How long: cs_ns of busy work, or a length drawn from cs_dist with that
//     mean (from a table of 4096 draws per contender, made before the run
//     and scaled to the exact mean, so drawing costs one load); every
//     long_hold_every-th acquisition of a contender holds long_hold_ns
//     longer (locktorture's occasional long hold).
//
// Checks (a broken lock is counted in contender_slot::violations, never a
// crash): a writer marks its lock's `holder` on entry and finds it still its
// own on exit; with readers, a reader flags the lock it reads (its own line)
// and a writer finds no reader flagged on entry or exit, a rw reader finds no
// writer marked, and a seqlock reader whose read validated finds as many
// write sections ended as begun. All relaxed atomics: a correct lock orders
// them (its acquire synchronises with the previous release), so they never
// fire falsely; a broken lock is caught without a data race.
#pragma once

#include "lockbench_types.hpp"
#include "support/histogram.hpp"
#include "support/ticks.hpp"

#include <jiffy/runtime.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <memory>
#include <sched.h>
#include <thread>
#include <vector>

namespace lockbench {

inline double to_ns(double t) { return bench::ticks_to_ns(t); }

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

using bench::histogram;

namespace detail {

// -------------------------------------------------------------- handles ----

// A forwarding wrapper: Clang's thread-safety analysis would flag it for
// taking a jiffy lock (a capability) in one function and releasing it in
// another, which is what it is for. The optional sides are forwarded when
// the lock has them (the attribute leads where a requires-clause follows:
// Clang 14 does not accept it between the declarator and the clause).
template <class Lock>
struct plain_handle {
  Lock* l;
  void lock() JIFFY_NO_THREAD_SAFETY_ANALYSIS { l->lock(); }
  void unlock() JIFFY_NO_THREAD_SAFETY_ANALYSIS { l->unlock(); }
  JIFFY_NO_THREAD_SAFETY_ANALYSIS bool try_lock() requires requires(Lock& x) { x.try_lock(); }
  { return l->try_lock(); }
  JIFFY_NO_THREAD_SAFETY_ANALYSIS void lock_shared() requires requires(Lock& x) { x.lock_shared(); }
  { l->lock_shared(); }
  JIFFY_NO_THREAD_SAFETY_ANALYSIS void unlock_shared() requires requires(Lock& x) { x.unlock_shared(); }
  { l->unlock_shared(); }
  JIFFY_NO_THREAD_SAFETY_ANALYSIS bool try_lock_shared() requires requires(Lock& x) { x.try_lock_shared(); }
  { return l->try_lock_shared(); }
  auto read_begin() const requires requires(const Lock& x) { x.read_begin(); }
  { return l->read_begin(); }
  bool read_retry(std::uint32_t s) const requires requires(const Lock& x) { x.read_retry(std::uint32_t{}); }
  { return l->read_retry(s); }
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
using handle_of = decltype(make_handle(std::declval<Lock&>()));

template <class H>
concept has_try_lock = requires(H& h) {
  { h.try_lock() } -> std::convertible_to<bool>;
};
template <class H>
concept has_shared_side = requires(H& h) {
  h.lock_shared();
  h.unlock_shared();
};
template <class H>
concept has_sequence_side = requires(const H& h) {
  h.read_retry(h.read_begin());
};

template <class H>
constexpr read_side read_side_of() {
  if constexpr (has_shared_side<H>)
    return read_side::shared;
  else if constexpr (has_sequence_side<H>)
    return read_side::sequence;
  else
    return read_side::none;
}

// A contender's handles, one per lock. Held by pointer: a handle may be
// neither copyable nor movable (oneTBB's scoped_lock node).
template <class Lock>
class handle_set {
 public:
  explicit handle_set(const std::vector<Lock*>& locks) {
    for (Lock* l : locks) handles_.emplace_back(new auto(make_handle(*l)));
  }
  handle_of<Lock>& operator[](unsigned k) { return *handles_[k]; }

 private:
  std::vector<std::unique_ptr<handle_of<Lock>>> handles_;
};

template <class Lock>
struct alignas(128) padded {
  Lock lock;
};

// ------------------------------------------------------------ the state ----

// The contenders' start line and the phases of a run. Nothing is recorded
// during the warm-up: contenders on one core start one at a time, and the
// first to run would otherwise take the lock alone for a whole time slice.
enum phase : int { waiting, warming_up, measuring, stopped };

struct alignas(128) run_flags {
  std::atomic<unsigned> ready{0};
  std::atomic<int> phase{waiting};
};

// One per lock. released_at and owner are written only by the lock's
// holder and read by the next: the lock orders them. `holder` is the writer
// inside (contender id + 1; 0: none); begun/ended count write sections, for
// seqlock readers (written only with readers).
struct alignas(128) lock_mark {
  std::uint64_t released_at = 0;
  unsigned owner = ~0u;
  std::atomic<unsigned> holder{0};
  std::atomic<std::uint64_t> begun{0}, ended{0};
};

// The lock a contender is reading under, + 1 (0: none); on a line of its own.
struct alignas(128) reader_flag {
  std::atomic<unsigned> reading{0};
};

struct alignas(128) contender_slot {
  std::uint64_t acquisitions = 0;
  std::uint64_t violations = 0;
  std::uint64_t cs_ticks = 0, gap_ticks = 0, gaps = 0;  // achieved lengths, summed
  std::uint64_t reads = 0, read_retries = 0, trylock_failures = 0, long_holds = 0;
  int cpu_start = -1, cpu_end = -1;  // sched_getcpu() as it saw the window open, and stopped
  histogram acquire, handoff;
};

// How a contender lets others on its worker run between acquisitions: under
// `none` nothing else would ever run, under `voluntary` it offers a
// preemption point; under `full` (and on threads) the scheduler decides.
enum class pacing { none, yield, cond_resched };

// A cache line the critical sections write (--cs-lines): data the lock
// protects. Relaxed atomics: seqlock readers read it while a writer writes.
struct alignas(64) protected_line {
  std::atomic<std::uint64_t> writes{0};
};

struct shared_run {
  explicit shared_run(const contention& c)
      : work(c),
        marks(new lock_mark[c.lock_count]),
        readers(new reader_flag[c.contenders]),
        lines(new protected_line[std::size_t{c.lock_count} * c.cs_lines]),
        slots(c.contenders) {}
  run_flags flags;
  contention work;  // the configuration, as the loop reads it
  std::uint64_t cs_rounds = 0, gap_rounds = 0, long_rounds = 0;
  pacing pace = pacing::none;
  std::unique_ptr<lock_mark[]> marks;       // work.lock_count
  std::unique_ptr<reader_flag[]> readers;   // work.contenders
  std::unique_ptr<protected_line[]> lines;  // work.cs_lines per lock, lock k's first at k * cs_lines
  std::vector<contender_slot> slots;
  std::chrono::steady_clock::time_point started, finished;
  double cpu_ns = 0;  // the process's CPU time over the measured window
};

// ----------------------------------------------------------- the choices ----

// A contender's draws: which lock, which side, how long. Random choices come
// from xorshift64* seeded by splitmix64 of (seed, contender).
class workload_cursor {
 public:
  workload_cursor(const shared_run& s, unsigned id)
      : rng_(splitmix(s.work.seed + 0x9e3779b97f4a7c15ull * (id + 1)) | 1),
        locks_(s.work.lock_count),
        next_(id % s.work.lock_count),
        random_(s.work.choice == lock_choice::random),
        read_pct_(s.work.readers_pct),
        fixed_(s.cs_rounds),
        every_(s.work.long_hold_every) {
    if (s.work.cs_dist != cs_distribution::fixed) fill_table(s.work.cs_dist, s.cs_rounds);
  }

  unsigned next_lock() noexcept {
    if (locks_ == 1) return 0;
    if (random_) return static_cast<unsigned>((draw32() * std::uint64_t{locks_}) >> 32);
    unsigned k = next_;
    next_ = k + 1 == locks_ ? 0 : k + 1;
    return k;
  }
  bool next_is_read() noexcept { return read_pct_ && ((draw32() * 100) >> 32) < read_pct_; }
  std::uint64_t next_cs_rounds() noexcept { return table_.empty() ? fixed_ : table_[i_++ & (table_size - 1)]; }
  bool next_is_long() noexcept {
    if (!every_ || ++since_ < every_) return false;
    since_ = 0;
    return true;
  }

 private:
  static constexpr std::size_t table_size = 4096;

  static std::uint64_t splitmix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  std::uint64_t draw32() noexcept {
    rng_ ^= rng_ >> 12, rng_ ^= rng_ << 25, rng_ ^= rng_ >> 27;
    return (rng_ * 0x2545f4914f6cdd1dull) >> 32;
  }
  // Draws of the distribution (unit mean), scaled so the table's mean is
  // exactly `mean` rounds.
  void fill_table(cs_distribution d, std::uint64_t mean) {
    std::vector<double> x(table_size);
    double sum = 0;
    for (double& v : x) {
      double u = (static_cast<double>(draw32()) + 0.5) / 4294967296.0;  // (0, 1)
      v = d == cs_distribution::uniform ? 2 * u : -std::log(u);
      sum += v;
    }
    double scale = static_cast<double>(mean) * static_cast<double>(table_size) / sum;
    for (double v : x) table_.push_back(static_cast<std::uint64_t>(v * scale + 0.5));
  }

  std::uint64_t rng_;
  unsigned locks_, next_;
  bool random_;
  unsigned read_pct_;
  std::uint64_t fixed_;
  std::vector<std::uint64_t> table_{};
  std::size_t i_ = 0;
  std::uint64_t every_, since_ = 0;
};

// ------------------------------------------------------------- the loop ----

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

// Any contender other than `id` flagged as reading under lock k.
inline bool reader_inside(const shared_run& s, unsigned k, unsigned id) noexcept {
  for (unsigned j = 0; j < s.work.contenders; ++j)
    if (j != id && s.readers[j].reading.load(std::memory_order_relaxed) == k + 1) return true;
  return false;
}

template <class H>
void acquire_exclusive(H& h, bool trylock, std::uint64_t& failures) {
  if constexpr (has_try_lock<H>) {
    if (trylock) {
      while (!h.try_lock()) ++failures, jiffy::detail::cpu_relax();
      return;
    }
  }
  h.lock();
}

// The shared side's lock_shared(), or with `trylock` its try_lock_shared().
template <class H>
void acquire_shared(H& h, bool trylock, std::uint64_t& failures) {
  if constexpr (requires { h.try_lock_shared(); }) {
    if (trylock) {
      while (!h.try_lock_shared()) ++failures, jiffy::detail::cpu_relax();
      return;
    }
  }
  h.lock_shared();
}

// The read side of lock k: returns the time stamp taken as it entered (t1,
// after which the section ran) and sets `released` to the end of the
// section; the caller times and counts it like an exclusive acquisition.
template <class H>
std::uint64_t read_section(H& h, shared_run& s, unsigned k, unsigned id, std::uint64_t rounds, contender_slot& me,
                           std::uint64_t& released) {
  lock_mark& mark = s.marks[k];
  protected_line* lines = &s.lines[std::size_t{k} * s.work.cs_lines];
  std::uint64_t sum = 0, t1 = 0;
  if constexpr (has_shared_side<H>) {
    acquire_shared(h, s.work.trylock, me.trylock_failures);
    t1 = bench::ticks_stop();
    s.readers[id].reading.store(k + 1, std::memory_order_relaxed);
    if (mark.holder.load(std::memory_order_relaxed) != 0) ++me.violations;  // a writer is inside
    for (unsigned i = 0; i < s.work.cs_lines; ++i) sum += lines[i].writes.load(std::memory_order_relaxed);
    burn(rounds);
    if (mark.holder.load(std::memory_order_relaxed) != 0) ++me.violations;
    s.readers[id].reading.store(0, std::memory_order_relaxed);
    released = bench::ticks_stop();
    h.unlock_shared();
  } else if constexpr (has_sequence_side<H>) {
    for (;;) {
      auto seq = h.read_begin();
      t1 = bench::ticks_stop();
      std::uint64_t ended = mark.ended.load(std::memory_order_relaxed);
      for (unsigned i = 0; i < s.work.cs_lines; ++i) sum += lines[i].writes.load(std::memory_order_relaxed);
      burn(rounds);
      std::uint64_t begun = mark.begun.load(std::memory_order_relaxed);
      if (!h.read_retry(seq)) {
        if (begun != ended) ++me.violations;  // it validated a read a writer was in the middle of
        break;
      }
      ++me.read_retries;
    }
    released = bench::ticks_stop();
  }
  asm volatile("" : : "r"(sum));  // the reads are used
  return t1;
}

// The measured loop. The time stamps around lock() and before unlock() are
// part of every acquisition, for every lock alike. An acquisition counts when
// its lock() began in the measuring phase.
template <class Lock>
void acquire_loop(handle_set<Lock>& hs, shared_run& s, unsigned id) {
  using H = handle_of<Lock>;
  contender_slot& me = s.slots[id];
  workload_cursor w(s, id);
  const bool with_readers = s.work.readers_pct > 0;
  std::uint64_t n = 0;
  std::uint64_t my_last_release = 0;
  for (;;) {
    int ph = s.flags.phase.load(std::memory_order_relaxed);
    if (ph == measuring && me.cpu_start < 0) me.cpu_start = sched_getcpu();
    if (ph == stopped) break;
    unsigned k = w.next_lock();
    H& h = hs[k];
    lock_mark& mark = s.marks[k];
    std::uint64_t rounds = w.next_cs_rounds();
    if constexpr (read_side_of<H>() != read_side::none) {
      if (w.next_is_read()) {
        std::uint64_t t0 = bench::ticks_start();
        if (ph == measuring && my_last_release) me.gap_ticks += t0 - my_last_release, ++me.gaps;
        std::uint64_t t1 = read_section(h, s, k, id, rounds, me, my_last_release);
        if (ph == measuring) {
          me.acquire.add(t1 - t0);
          me.cs_ticks += my_last_release - t1;
          ++me.reads, ++n;
        }
        burn(s.gap_rounds);
        pace(s.pace);
        continue;
      }
    }
    std::uint64_t t0 = bench::ticks_start();
    acquire_exclusive(h, s.work.trylock, me.trylock_failures);
    std::uint64_t t1 = bench::ticks_stop();
    if (ph == measuring) {
      me.acquire.add(t1 - t0);
      if (mark.owner != id && mark.owner != ~0u && mark.released_at > t0) me.handoff.add(t1 - mark.released_at);
      if (my_last_release) me.gap_ticks += t0 - my_last_release, ++me.gaps;
      ++n;
    }
    mark.holder.store(id + 1, std::memory_order_relaxed);
    if (with_readers) {
      mark.begun.store(mark.begun.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      if (reader_inside(s, k, id)) ++me.violations;
    }
    protected_line* lines = &s.lines[std::size_t{k} * s.work.cs_lines];
    for (unsigned i = 0; i < s.work.cs_lines; ++i)
      lines[i].writes.store(lines[i].writes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    burn(rounds);
    if (w.next_is_long()) {
      burn(s.long_rounds);
      if (ph == measuring) ++me.long_holds;
    }
    if (mark.holder.load(std::memory_order_relaxed) != id + 1) ++me.violations;
    if (with_readers) {
      if (reader_inside(s, k, id)) ++me.violations;
      mark.ended.store(mark.ended.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    mark.holder.store(0, std::memory_order_relaxed);
    mark.owner = id;
    mark.released_at = bench::ticks_stop();  // the critical section has completed
    my_last_release = mark.released_at;
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
void contender_main(const std::vector<Lock*>& locks, shared_run& s, unsigned id, bool fiber) {
  handle_set<Lock> hs(locks);
  wait_for_go(s, fiber);
  acquire_loop(hs, s, id);
}

}  // namespace detail
}  // namespace lockbench
