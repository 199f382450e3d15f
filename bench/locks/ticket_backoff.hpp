// bench/locks/ticket_backoff.hpp — a ticket lock with proportional backoff,
// as a subject of measurement.
//
// Algorithm: J. M. Mellor-Crummey, M. L. Scott, "Algorithms for scalable
// synchronization on shared-memory multiprocessors", ACM TOCS 9(1), 1991
// (the ticket lock with proportional backoff). A waiter takes a ticket and
// compares it with `serving`; while it is k places from the front it waits
// about k critical sections before it looks again, so the line holding
// `serving` is read by a few waiters at each hand-off instead of all of them.
// The base delay (pauses per place in the queue) should be near the length
// of a critical section; `BasePauses` is a template parameter, and lockbench
// registers it with 64 pauses (about 0.5-3 us on current x86 cores, where a
// pause takes 10-140 cycles): too long for an empty critical section, about
// right for lockbench's default 50 ns plus the hand-off's cache misses. FIFO-
// fair. Both counters share one 8-byte word, as in the classic layout.
//
// Memory orders:
//  * the ticket fetch_add is relaxed: taking a place orders nothing;
//  * the load of `serving` that finds our ticket is acquire, pairing with
//    the release store in unlock(): the critical section sees the previous
//    holder's writes;
//  * unlock() reads `serving` relaxed (only the holder writes it) and
//    stores the next value with release.
#pragma once

#include "spin_support.hpp"

#include <atomic>

namespace lockbench::locks {

template <unsigned BasePauses>
class ticket_backoff_lock {
 public:
  ticket_backoff_lock() = default;
  ticket_backoff_lock(const ticket_backoff_lock&) = delete;
  ticket_backoff_lock& operator=(const ticket_backoff_lock&) = delete;

  void lock() noexcept {
    const unsigned mine = next_.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
      const unsigned places = mine - serving_.load(std::memory_order_acquire);
      if (places == 0) return;
      relax_for(places * BasePauses);
    }
  }

  void unlock() noexcept { serving_.store(serving_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

 private:
  std::atomic<unsigned> next_{0};
  std::atomic<unsigned> serving_{0};
};

}  // namespace lockbench::locks
