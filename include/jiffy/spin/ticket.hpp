// jiffy/spin/ticket.hpp — the ticket lock: jiffy::ticket_spinlock.
//
// Layout: two 16-bit counters in 4 bytes, 4-byte aligned: the ticket being
// served, and the next ticket to hand out. FIFO-fair: the lock goes to
// waiters in the order they arrived. Unlock is a plain store: only the holder
// writes the served counter.
//
// Rules:
//  * A waiter holds its ticket with preemption disabled for the whole wait.
//    Fairness makes that necessary: if a waiter whose turn came were switched
//    out, everyone behind it would wait for it (the convoy that fair locks
//    suffer on OS threads sharing a core). jiffy's waiter cannot be switched
//    out, so its turn is always taken at once.
//  * Up to 65535 waiters at once.
//  * A capability for Clang's thread-safety analysis (thread_annotations.hpp).
#pragma once

#include <jiffy/spin/policy.hpp>
#include <jiffy/thread_annotations.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy {
namespace detail {

// The algorithm, over a preemption policy (spin/policy.hpp). Only the
// integrated instantiation is public: jiffy::ticket_spinlock.
template <class Preemption>
class JIFFY_CAPABILITY("spinlock") basic_ticket_spinlock {
 public:
  basic_ticket_spinlock() noexcept = default;
  basic_ticket_spinlock(const basic_ticket_spinlock&) = delete;
  basic_ticket_spinlock& operator=(const basic_ticket_spinlock&) = delete;

  void lock() noexcept JIFFY_ACQUIRE() {
    Preemption::disable();
    std::uint16_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    // acquire: the critical section sees what the previous holder wrote.
    if (serving_.load(std::memory_order_acquire) == ticket) return;
    spin_wait w;
    while (serving_.load(std::memory_order_acquire) != ticket) w.wait();
  }

  [[nodiscard]] bool try_lock() noexcept JIFFY_TRY_ACQUIRE(true) {
    Preemption::disable();
    std::uint16_t serving = serving_.load(std::memory_order_acquire);
    std::uint16_t next = serving;
    // Free exactly when nobody holds a ticket beyond the one being served.
    if (next_.compare_exchange_strong(next, static_cast<std::uint16_t>(serving + 1), std::memory_order_acquire,
                                      std::memory_order_relaxed))
      return true;
    Preemption::enable();
    return false;
  }

  void unlock() noexcept JIFFY_RELEASE() {
    std::uint16_t serving = serving_.load(std::memory_order_relaxed);  // only the holder writes it
    if constexpr (debug_checks)
      if (next_.load(std::memory_order_relaxed) == serving) unlock_not_held("ticket_spinlock");
    // release: publishes the critical section to the next ticket holder.
    serving_.store(static_cast<std::uint16_t>(serving + 1), std::memory_order_release);
    Preemption::enable();
  }

  [[nodiscard]] bool is_locked() const noexcept {
    return next_.load(std::memory_order_relaxed) != serving_.load(std::memory_order_relaxed);
  }

 private:
  alignas(4) std::atomic<std::uint16_t> serving_{0};  // the ticket that may enter
  std::atomic<std::uint16_t> next_{0};                // the next ticket to hand out
};

}  // namespace detail

using ticket_spinlock = detail::basic_ticket_spinlock<detail::integrate_preemption>;

}  // namespace jiffy
