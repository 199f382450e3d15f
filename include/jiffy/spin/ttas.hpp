// jiffy/spin/ttas.hpp — test-and-test-and-set with backoff: jiffy::spinlock.
//
// Layout: one 32-bit word (4 bytes, 4-byte aligned). Unfair: whoever looks
// first after a release wins.
//
// Rules:
//  * The fast path is one exchange. A waiter spins on plain loads (the line
//    stays shared until the release) and tries the exchange again only when
//    the lock looks free.
//  * The integrated waiter spins with preemption enabled between attempts
//    (abseil's order): it takes preempt_disable() only to try, so a spinning
//    fiber can still be preempted and let others run, while the holder, which
//    holds with preemption disabled, never can.
#pragma once

#include <jiffy/spin/policy.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy {

template <class Preemption>
class basic_ttas_spinlock {
 public:
  basic_ttas_spinlock() noexcept = default;
  basic_ttas_spinlock(const basic_ttas_spinlock&) = delete;
  basic_ttas_spinlock& operator=(const basic_ttas_spinlock&) = delete;

  void lock() noexcept {
    Preemption::disable();
    // acquire: the critical section sees what the previous holder wrote.
    if (word_.exchange(1, std::memory_order_acquire) == 0) return;
    lock_slow();
  }

  bool try_lock() noexcept {
    Preemption::disable();
    if (word_.load(std::memory_order_relaxed) == 0 && word_.exchange(1, std::memory_order_acquire) == 0) return true;
    Preemption::enable();
    return false;
  }

  void unlock() noexcept {
    if constexpr (detail::debug_checks)
      if (word_.load(std::memory_order_relaxed) == 0) detail::unlock_not_held("spinlock");
    // release: publishes the critical section to the next holder.
    word_.store(0, std::memory_order_release);
    Preemption::enable();
  }

  bool is_locked() const noexcept { return word_.load(std::memory_order_relaxed) != 0; }

 private:
  [[gnu::noinline]] void lock_slow() noexcept {
    detail::spin_wait w;
    for (;;) {
      Preemption::enable();  // wait preemptibly; only the holder must not be preempted
      while (word_.load(std::memory_order_relaxed) != 0) w.wait();
      Preemption::disable();
      if (word_.exchange(1, std::memory_order_acquire) == 0) return;
    }
  }

  std::atomic<std::uint32_t> word_{0};
};

using spinlock = basic_ttas_spinlock<detail::integrate_preemption>;

namespace holder_preemptible {
// The same lock without preempt_disable(): its holder can be preempted while
// others spin. For measurement only (lockbench, tests).
using spinlock = basic_ttas_spinlock<detail::ignore_preemption>;
}  // namespace holder_preemptible

}  // namespace jiffy
