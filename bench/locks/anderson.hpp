// bench/locks/anderson.hpp — Anderson's array-based queue lock, as a subject
// of measurement.
//
// Algorithm: T. E. Anderson, "The performance of spin lock alternatives for
// shared-memory multiprocessors", IEEE TPDS 1(1), 1990. A waiter takes a
// ticket with fetch_add and spins on the array slot the ticket names (its
// own cache line); the holder releases by setting the next slot's flag. FIFO-
// fair, one line read per waiter, but the array must have a slot for every
// contender that can wait at once: with more, two waiters share a slot and
// both enter. The slot count is a template parameter; lockbench reads
// max_contenders() and skips points with more contenders (with a note).
//
// Memory orders:
//  * the ticket fetch_add is relaxed: it only hands out slots; it orders
//    nothing (the hand-off is the slot's flag);
//  * the spin reads our slot's flag with acquire, pairing with the release
//    store in unlock(): the critical section sees the previous holder's
//    writes;
//  * the holder clears its own slot (relaxed) for the ticket that will wrap
//    round to it; that ticket's owner can only be granted the slot after a
//    chain of Slots - 1 release/acquire hand-offs that starts after this
//    store, so it never sees the stale `true`.
//  * `holder_slot_` is plain: written and read only by the holder.
#pragma once

#include "spin_support.hpp"

#include <atomic>
#include <cstddef>

namespace lockbench::locks {

template <unsigned Slots>
class anderson_lock {
  static_assert((Slots & (Slots - 1)) == 0, "tickets wrap round at 2^32: Slots must divide it");

 public:
  anderson_lock() { slots_[0].go.store(true, std::memory_order_relaxed); }
  anderson_lock(const anderson_lock&) = delete;
  anderson_lock& operator=(const anderson_lock&) = delete;

  void lock() noexcept {
    unsigned slot = next_ticket_.fetch_add(1, std::memory_order_relaxed) % Slots;
    while (!slots_[slot].go.load(std::memory_order_acquire)) relax();
    slots_[slot].go.store(false, std::memory_order_relaxed);
    holder_slot_ = slot;
  }

  void unlock() noexcept { slots_[(holder_slot_ + 1) % Slots].go.store(true, std::memory_order_release); }

  static constexpr unsigned max_contenders() { return Slots; }

 private:
  struct alignas(line) slot {
    std::atomic<bool> go{false};
  };

  alignas(line) std::atomic<unsigned> next_ticket_{0};  // written by every arriving waiter
  alignas(line) unsigned holder_slot_ = 0;              // by the holder only
  slot slots_[Slots];
};

}  // namespace lockbench::locks
