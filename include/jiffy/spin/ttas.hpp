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
//  * A capability for Clang's thread-safety analysis (thread_annotations.hpp):
//    data can be JIFFY_GUARDED_BY a spinlock.
#pragma once

#include <jiffy/spin/policy.hpp>
#include <jiffy/thread_annotations.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy {
namespace detail {

// The algorithm, over a preemption policy (spin/policy.hpp). Only the
// integrated instantiation is public: jiffy::spinlock.
template <class Preemption>
class JIFFY_CAPABILITY("spinlock") basic_ttas_spinlock {
 public:
  basic_ttas_spinlock() noexcept = default;
  basic_ttas_spinlock(const basic_ttas_spinlock&) = delete;
  basic_ttas_spinlock& operator=(const basic_ttas_spinlock&) = delete;

  void lock() noexcept JIFFY_ACQUIRE() {
    Preemption::disable();
    // acquire: the critical section sees what the previous holder wrote.
    if (word_.exchange(1, std::memory_order_acquire) == 0) return;
    lock_slow();
  }

  [[nodiscard]] bool try_lock() noexcept JIFFY_TRY_ACQUIRE(true) {
    Preemption::disable();
    if (word_.load(std::memory_order_relaxed) == 0 && word_.exchange(1, std::memory_order_acquire) == 0) return true;
    Preemption::enable();
    return false;
  }

  void unlock() noexcept JIFFY_RELEASE() {
    if constexpr (debug_checks)
      if (word_.load(std::memory_order_relaxed) == 0) unlock_not_held("spinlock");
    // release: publishes the critical section to the next holder.
    word_.store(0, std::memory_order_release);
    Preemption::enable();
  }

  [[nodiscard]] bool is_locked() const noexcept { return word_.load(std::memory_order_relaxed) != 0; }

 private:
  [[gnu::noinline]] void lock_slow() noexcept {
    spin_wait w;
    for (;;) {
      Preemption::enable();  // wait preemptibly; only the holder must not be preempted
      while (word_.load(std::memory_order_relaxed) != 0) w.wait();
      Preemption::disable();
      if (word_.exchange(1, std::memory_order_acquire) == 0) return;
    }
  }

  std::atomic<std::uint32_t> word_{0};
};

}  // namespace detail

using spinlock = detail::basic_ttas_spinlock<detail::integrate_preemption>;

}  // namespace jiffy
