// jiffy/detail/sched_class.hpp — scheduling classes: a fiber's rank, the
// fair weights, and the run queue of the real-time and idle classes.
//
// The rules of this file, before the code.
//
// Rank.  Every fiber has one number that says who runs first: 0 for `idle`,
// 1 for the fair classes (`normal`, `batch`), 1 + priority (2..100) for
// `fifo` and `rr`, raised while priority inheritance boosts it. A worker
// publishes the rank of what it runs (worker::running_sched), so a waker can
// find the worker running the least important work, as the kernel's RT push
// does.
//
// Where each class waits.  Fair fibers use the queues that existed before
// classes did (runnext, rings, global queue, home queues: run_queue.hpp):
// a program that never sets a policy runs exactly as fast as before, and the
// only new cost on its paths is one relaxed load of `rt_count` per pick.
// Real-time and idle fibers wait in one runtime-wide `class_queue`: a list
// per rank with a bitmap of non-empty lists (the kernel's rt_prio_array),
// under a raw spinlock. One queue, not one per worker: real-time fibers are
// few and must run the moment any worker can take them (the kernel needs
// push/pull between per-CPU queues to get what one shared queue gives).
// A fiber that must stay on its worker (pinned, migrate_disable, preempted
// by signal) waits there too, and only its home worker takes it.
//
// Fair shares.  Fair fibers round-robin, and the monitor ends a fair slice
// after quantum × weight / 1024 (weight from the kernel's
// sched_prio_to_weight): two CPU-bound fibers at nice 0 and 5 get 1024:335
// of a worker (slices end late by the monitor's latency, which it learns
// and corrects: monitor.hpp, learn_slice_end_lead). Why not a virtual-time tree (CFS, EEVDF): the fair queues are
// lock-free rings that other workers steal from, and a sorted queue would
// need a lock per pick; proportional slices give the same shares for
// CPU-bound fibers. Latency for fibers that sleep comes from wake-up
// preemption instead (preemption/request.hpp): a fair fiber woken from
// outside its worker's fiber (a timer, the network, a thread) preempts a
// running fair fiber at once under `full` and `voluntary` — the kernel's
// "a sleeper comes back promptly", without lag bookkeeping. `batch`
// fibers never preempt on wake-up.
#pragma once

#include <jiffy/detail/queues.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/single_writer.hpp>
#include <jiffy/sched.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

inline constexpr unsigned rank_idle = 0;
inline constexpr unsigned rank_fair = 1;
inline constexpr unsigned rank_rt_base = 1;  // rank = rank_rt_base + priority
inline constexpr unsigned rank_count = 101;
inline constexpr int rt_priority_min = 1, rt_priority_max = 99;
inline constexpr int nice_min = -20, nice_max = 19;
inline constexpr std::uint8_t rank_not_queued = 0xff;  // fiber_control::queued_rank when not in a class_queue

// The kernel's sched_prio_to_weight: nice -20..19, 1024 at nice 0, each step
// about 1.25x.
inline constexpr std::uint32_t nice_weights[40] = {88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
                                                   9548,  7620,  6100,  4904,  3906,  3121,  2501,  1991,  1586,  1277,
                                                   1024,  820,   655,   526,   423,   335,   272,   215,   172,   137,
                                                   110,   87,    70,    56,    45,    36,    29,    23,    18,    15};

constexpr std::uint32_t weight_of_nice(int nice) noexcept { return nice_weights[nice - nice_min]; }

constexpr bool is_real_time(sched_policy p) noexcept { return p == sched_policy::fifo || p == sched_policy::rr; }
constexpr bool is_fair(sched_policy p) noexcept { return p == sched_policy::normal || p == sched_policy::batch; }

// What is wrong with a policy/priority/nice triple, or nullptr; `field` and
// `value` name the culprit for the caller's message.
struct sched_error {
  const char* field = nullptr;
  long value = 0;
  const char* why = nullptr;
};

inline sched_error check_sched(sched_policy policy, int priority, int nice) noexcept {
  auto p = static_cast<int>(policy);
  if (p < static_cast<int>(sched_policy::normal) || p > static_cast<int>(sched_policy::rr))
    return {"policy", p, "is not a jiffy::sched_policy"};
  if (is_real_time(policy) && (priority < rt_priority_min || priority > rt_priority_max))
    return {"priority", priority, "must be 1-99 for fifo and rr"};
  if (!is_real_time(policy) && priority != 0)
    return {"priority", priority, "must be 0 unless the policy is fifo or rr"};
  if (nice < nice_min || nice > nice_max) return {"nice", nice, "must be -20..19"};
  if (!is_fair(policy) && nice != 0) return {"nice", nice, "must be 0 unless the policy is normal or batch"};
  return {};
}

// A fiber's scheduling parameters. Written whole (sched_params::of) by the
// fiber itself (set_scheduler) or by its spawner before it is runnable; an
// inheritance boost lives beside it (fiber_control::boost_rank). The rank is
// derived once here, not at each of the three reads every switch makes
// (a callgrind count: ~11 instructions a read computed, ~4 stored).
struct sched_params {
  sched_policy policy = sched_policy::normal;
  std::uint8_t priority = 0;
  std::int8_t nice = 0;
  std::uint8_t rank = rank_fair;  // of the class and priority, without a boost
  std::uint32_t weight = 1024;

  static constexpr sched_params of(sched_policy policy, int priority, int nice) noexcept {
    sched_params p;
    p.policy = policy;
    p.priority = static_cast<std::uint8_t>(priority);
    p.nice = static_cast<std::int8_t>(nice);
    p.weight = weight_of_nice(nice);
    if (is_real_time(policy))
      p.rank = static_cast<std::uint8_t>(rank_rt_base + priority);
    else
      p.rank = policy == sched_policy::idle ? rank_idle : rank_fair;
    return p;
  }
  friend constexpr bool operator==(const sched_params&, const sched_params&) = default;
};
// A new control block's parameters are fiber_options{}'s: spawn without
// options skips setting them (runtime::start_on).
static_assert(sched_params{} == sched_params::of(sched_policy::normal, 0, 0));

// What a worker publishes about the fiber it runs (worker::running_sched),
// packed in one word: rank, policy, fair weight.
constexpr std::uint64_t pack_running(unsigned rank, sched_policy p, std::uint32_t weight) noexcept {
  return rank | (static_cast<std::uint64_t>(p) << 8) | (static_cast<std::uint64_t>(weight) << 16);
}
constexpr unsigned running_rank(std::uint64_t packed) noexcept { return packed & 0xff; }
constexpr sched_policy running_policy(std::uint64_t packed) noexcept {
  return static_cast<sched_policy>((packed >> 8) & 0xff);
}
constexpr std::uint32_t running_weight(std::uint64_t packed) noexcept {
  return static_cast<std::uint32_t>(packed >> 16);
}

// The real-time and idle classes' run queue (see the rules above). T is
// fiber_control; it needs `next`, `queued_rank` and `may_run_on(W*)`.
template <class T>
class class_queue {
 public:
  // How many real-time / idle fibers wait: one relaxed load tells a picker
  // whether to look (a stale value costs one look or delays one pick).
  std::uint32_t rt_waiting() const noexcept { return rt_count_.load(std::memory_order_relaxed); }
  std::uint32_t idle_waiting() const noexcept { return idle_count_.load(std::memory_order_relaxed); }
  // The highest rank waiting (0 when none real-time), for the monitor.
  unsigned top_rank() const noexcept { return top_.load(std::memory_order_relaxed); }

  void push(T* f, unsigned rank) noexcept {
    lock_.lock();
    push_locked(f, rank);
    lock_.unlock();
  }

  // The first fiber of the highest rank >= min_rank that may run on `w`
  // (ranks >= 2 only: the real-time classes).
  template <class W>
  T* pop_rt(W* w, unsigned min_rank) noexcept {
    if (rt_waiting() == 0) return nullptr;
    if (min_rank < rank_rt_base + rt_priority_min) min_rank = rank_rt_base + rt_priority_min;
    lock_.lock();
    T* f = nullptr;
    for (unsigned r = highest_locked(); r >= min_rank && r != 0 && !f; r = highest_below_locked(r))
      f = take_locked(r, w);
    lock_.unlock();
    return f;
  }

  template <class W>
  T* pop_idle(W* w) noexcept {
    if (idle_waiting() == 0) return nullptr;
    lock_.lock();
    T* f = take_locked(rank_idle, w);
    lock_.unlock();
    return f;
  }

  // Moves a queued fiber to another rank's list (priority inheritance);
  // false if it is not queued here.
  bool requeue(T* f, unsigned new_rank) noexcept {
    lock_.lock();
    bool found = f->queued_rank != rank_not_queued && unlink_locked(f);
    if (found) push_locked(f, new_rank);
    lock_.unlock();
    return found;
  }

 private:
  void push_locked(T* f, unsigned rank) noexcept {
    f->queued_rank = static_cast<std::uint8_t>(rank);
    lists_[rank].push_back(f);
    bits_[rank / 64] |= std::uint64_t{1} << (rank % 64);
    count(rank, +1);
  }
  template <class W>
  T* take_locked(unsigned rank, W* w) noexcept {
    for (T* f = lists_[rank].front(); f; f = f->next)
      if (f->may_run_on(w)) {
        unlink_locked(f);
        return f;
      }
    return nullptr;
  }
  bool unlink_locked(T* f) noexcept {
    unsigned rank = f->queued_rank;
    if (!lists_[rank].remove(f)) return false;
    if (lists_[rank].empty()) bits_[rank / 64] &= ~(std::uint64_t{1} << (rank % 64));
    f->queued_rank = rank_not_queued;
    count(rank, -1);
    return true;
  }
  void count(unsigned rank, int d) noexcept {
    // Relaxed: the lock orders the lists; the counts are hints for pickers.
    auto& c = rank == rank_idle ? idle_count_ : rt_count_;
    single_writer_add(c, d);  // the lock's holder is the only writer
    unsigned top = highest_locked();
    top_.store(top == rank_idle ? 0 : top, std::memory_order_relaxed);
  }
  unsigned highest_locked() const noexcept {
    if (bits_[1]) return 127 - static_cast<unsigned>(__builtin_clzll(bits_[1]));
    if (bits_[0]) return 63 - static_cast<unsigned>(__builtin_clzll(bits_[0]));
    return 0;
  }
  unsigned highest_below_locked(unsigned r) const noexcept {
    for (unsigned x = r; x-- > 0;)
      if (bits_[x / 64] & (std::uint64_t{1} << (x % 64))) return x;
    return 0;
  }

  raw_spinlock lock_;
  intrusive_fifo<T> lists_[rank_count];
  std::uint64_t bits_[2] = {0, 0};
  std::atomic<std::uint32_t> rt_count_{0}, idle_count_{0};
  std::atomic<unsigned> top_{0};
};

}  // namespace jiffy::detail
