// bench/locks/clh.hpp — the CLH queue lock, as a subject of measurement.
//
// Algorithm: T. Craig, "Building FIFO and priority-queuing spin locks from
// atomic swap" (TR 93-02-02, U. Washington, 1993); P. Magnusson, A. Landin,
// E. Hagersten, "Queue locks on cache coherent multiprocessors" (IPPS 1994).
// The lock is a pointer to the tail of an implicit queue of nodes, each a
// `locked` flag. A waiter sets its node's flag, swaps its node in as the
// tail and spins on its predecessor's flag (a line only that predecessor
// writes, once). Releasing clears its own flag; the releaser then takes the
// predecessor's node as its node for next time (nobody else will touch it:
// its owner has left, and its successor — we — has stopped reading it). So
// nodes wander from contender to contender, and the lock starts with one
// node of its own whose flag is clear. FIFO-fair; one swap to lock, one
// store to unlock.
//
// Per-waiter state: lockbench calls contender() once per contender (thread
// or fiber) and keeps the handle for the whole run, so a fiber that migrates
// between workers keeps its node. All nodes come from the lock's pool
// (spin_support.hpp) and are freed with the lock.
//
// Memory orders:
//  * the flag is set (relaxed) before the swap, which is acq_rel: release so
//    that a successor who finds our node through the tail sees the flag set;
//    acquire so that we see the predecessor's node as it was initialised;
//  * the spin reads the predecessor's flag with acquire, pairing with its
//    release store of `false` in unlock(): our critical section sees the
//    predecessor's writes. Nothing else is ordered, so nothing needs more.
#pragma once

#include "spin_support.hpp"

#include <atomic>

namespace lockbench::locks {

class clh_lock {
  struct alignas(line) node {
    std::atomic<bool> locked{false};
    node* pool_next = nullptr;
  };

 public:
  // A contender's handle: the node it will enqueue next.
  class waiter {
   public:
    explicit waiter(clh_lock& l) : lock_(&l), mine_(l.nodes_.make()) {}
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    void lock() noexcept {
      mine_->locked.store(true, std::memory_order_relaxed);
      pred_ = lock_->tail_.exchange(mine_, std::memory_order_acq_rel);
      while (pred_->locked.load(std::memory_order_acquire)) relax();
    }

    void unlock() noexcept {
      node* released = mine_;
      mine_ = pred_;  // ours from now on
      released->locked.store(false, std::memory_order_release);
    }

   private:
    clh_lock* lock_;
    node* mine_;
    node* pred_ = nullptr;
  };

  clh_lock() : tail_(nodes_.make()) {}
  clh_lock(const clh_lock&) = delete;
  clh_lock& operator=(const clh_lock&) = delete;

  waiter contender() { return waiter(*this); }
  // The lock word; each contender brings a node of `line` bytes besides.
  static constexpr std::size_t lockbench_size() { return sizeof(std::atomic<node*>); }

 private:
  node_pool<node> nodes_;
  std::atomic<node*> tail_;
};

}  // namespace lockbench::locks
