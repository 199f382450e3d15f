// jiffy/spin/policy.hpp — what every jiffy spinlock shares: how it waits,
// and whether it disables preemption.
//
// Rules:
//  * An integrated lock is the kernel's spin_lock(): preempt_disable() and
//    then the acquire; the release and then preempt_enable(), which
//    reschedules right there if a preemption was deferred. A holder is never
//    switched out, so nobody spins for a holder that is not running — unless
//    the OS deschedules the holder's thread, which jiffy cannot prevent.
//  * Each algorithm is a template over the policy (detail::basic_*), and
//    jiffy's public locks are its integrate_preemption instantiations. The
//    ignore_preemption instantiations are the same algorithms without the
//    integration (what a plain user-space program writes): the
//    holder-preemptible twins, which exist only to measure what the
//    integration buys and so live in the benchmarks
//    (bench/holder_preemptible.hpp), not in jiffy's API.
//  * Waiting is a bounded exponential backoff on the CPU's spin-wait hint
//    (`pause` on x86-64, `isb` on AArch64). Once a waiter has spun for
//    spin_yield_threshold() nanoseconds (a time, not a count: a `pause` costs
//    10 to 140 cycles depending on the CPU), it calls sched_yield() between
//    looks, giving a descheduled holder's thread the CPU.
#pragma once

#include <jiffy/detail/time.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/preempt.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace jiffy {

namespace detail {
inline std::atomic<std::int64_t> spin_yield_threshold_ns{50000};
}

// How long a waiter spins before it starts yielding its thread to the OS.
// Default 50 µs (see README: long enough that uncontended hand-offs never
// reach it, short against the OS's 4 ms scheduling tick).
inline std::chrono::nanoseconds spin_yield_threshold() noexcept {
  return std::chrono::nanoseconds(detail::spin_yield_threshold_ns.load(std::memory_order_relaxed));
}
inline void set_spin_yield_threshold(std::chrono::nanoseconds t) noexcept {
  detail::spin_yield_threshold_ns.store(t.count() < 0 ? 0 : t.count(), std::memory_order_relaxed);
}

namespace detail {

// Bounded exponential backoff, then sched_yield() once spinning has lasted
// spin_yield_threshold(). The clock is read once per 16 rounds.
class spin_wait {
 public:
  void wait() noexcept {
    for (unsigned i = 0; i < pauses_; ++i) cpu_relax();
    if (pauses_ < max_pauses) pauses_ <<= 1;
    if ((++rounds_ & 15) != 0) return;
    std::int64_t now = now_ns();
    if (!give_up_at_) {
      give_up_at_ = now + spin_yield_threshold_ns.load(std::memory_order_relaxed);
    } else if (now >= give_up_at_) {
      std::this_thread::yield();  // sched_yield() on Linux
    }
  }

 private:
  static constexpr unsigned max_pauses = 64;
  unsigned pauses_ = 1;
  unsigned rounds_ = 0;
  std::int64_t give_up_at_ = 0;
};

// The preemption policies: what lock() does before the acquire and unlock()
// after the release.
struct integrate_preemption {
  static constexpr bool integrated = true;
  static void disable() noexcept { preempt_disable(); }
  static void enable() noexcept { preempt_enable(); }
};

// For measurement only (bench/holder_preemptible.hpp): a holder can be
// preempted while others spin.
struct ignore_preemption {
  static constexpr bool integrated = false;
  static void disable() noexcept {}
  static void enable() noexcept {}
};

[[noreturn, gnu::cold]] inline void unlock_not_held(const char* lock) noexcept {
  message m;
  fatal(m.text("jiffy: BUG: ").text(lock).text("::unlock() of a lock that is not held"));
}

}  // namespace detail
}  // namespace jiffy
