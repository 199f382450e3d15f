// bench/locks/hemlock.hpp — Hemlock, as a subject of measurement.
//
// Algorithm: D. Dice, A. Kogan, "Hemlock: Compact and Scalable Mutual
// Exclusion", SPAA 2021. The lock is one word, the tail of an implicit
// queue of waiters; each waiter has a single `grant` word (in the paper one
// per thread, shared by every lock it takes). A waiter swaps itself in as
// the tail; if there was a predecessor it spins until the predecessor's
// grant word names this lock, then acknowledges by clearing it. Releasing:
// if we are still the tail, swing it back to empty; otherwise write the
// lock's address into our grant word and wait until the successor has
// cleared it (so the word is free for our next release). FIFO-fair; unlike
// CLH/MCS no node travels with the lock, so a waiter needs nothing per lock.
//
// Per-waiter state: the grant word belongs to a contender — lockbench's
// contender() handle, kept for the whole run — not to an OS thread, so a
// fiber that migrates between workers keeps it (here one per lock and
// contender: lockbench measures one lock at a time).
//
// Memory orders:
//  * the swap into the tail is acq_rel: acquire because, when the queue was
//    empty, it reads the value the last holder's release CAS wrote, and our
//    critical section must see that holder's writes; release so that a
//    successor reading our address may read our grant word;
//  * the spin on the predecessor's grant word is acquire, pairing with the
//    release store of the lock's address in unlock(): the hand-off;
//  * the acknowledgement (clearing the predecessor's word) is release and the
//    releaser waits for it with acquire, so that its next store to the word
//    comes after our read of the old value;
//  * the uncontended release CAS on the tail is release (publishes the
//    critical section to the next locker, who swaps with acquire).
#pragma once

#include "spin_support.hpp"

#include <atomic>

namespace lockbench::locks {

class hemlock {
 public:
  class waiter {
   public:
    explicit waiter(hemlock& l) : lock_(&l) {}
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    void lock() noexcept {
      waiter* pred = lock_->tail_.exchange(this, std::memory_order_acq_rel);
      if (!pred) return;
      while (pred->grant_.load(std::memory_order_acquire) != lock_) relax();
      pred->grant_.store(nullptr, std::memory_order_release);
    }

    void unlock() noexcept {
      waiter* self = this;
      if (lock_->tail_.compare_exchange_strong(self, nullptr, std::memory_order_release, std::memory_order_relaxed))
        return;
      grant_.store(lock_, std::memory_order_release);
      while (grant_.load(std::memory_order_acquire) != nullptr) relax();
    }

   private:
    hemlock* lock_;
    alignas(line) std::atomic<const hemlock*> grant_{nullptr};
  };

  hemlock() = default;
  hemlock(const hemlock&) = delete;
  hemlock& operator=(const hemlock&) = delete;

  waiter contender() { return waiter(*this); }
  static constexpr std::size_t lockbench_size() { return sizeof(std::atomic<waiter*>); }

 private:
  std::atomic<waiter*> tail_{nullptr};
};

}  // namespace lockbench::locks
