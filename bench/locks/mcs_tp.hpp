// bench/locks/mcs_tp.hpp — a preemption-adaptive MCS queue lock after
// MCS-TP, as a subject of measurement: the rival to jiffy's answer to
// lock-holder and lock-waiter preemption (which is to forbid preempting a
// holder at all).
//
// Algorithm: B. He, W. N. Scherer III, M. L. Scott, "Preemption adaptivity
// in time-published queue-based spin locks", HiPC 2005. An MCS queue (J. M.
// Mellor-Crummey, M. L. Scott, ACM TOCS 1991) whose waiters publish a time
// stamp on their node while they spin. A releaser passes the lock to the
// first successor whose stamp is recent; a successor with a stale stamp was
// most likely preempted (a queue lock's convoy: the next owner is not
// running), so the releaser marks it removed and looks at the one behind
// it. A removed waiter, once it runs again, sees the mark and queues anew.
// The holder publishes when it took the lock; a waiter that finds that
// stamp stale too (the holder was preempted) gives its CPU up, so that on a
// shared CPU the holder gets to run.
//
// Simplified from the paper, on purpose:
//  * no timeout/abort of a waiter by its own patience (the paper's waiters
//    may leave the queue; ours wait until granted or removed), so only the
//    releaser ever writes a node's state;
//  * the releaser unlinks a stale node itself, walking the queue; it
//    touches that node for the last time when it stores `removed`, after it
//    has read the node's `next`, so the owner may reuse it at once;
//  * one fixed staleness bound (`stale_ns`, 50 us: 50x the time between a
//    spinning waiter's stamps, far below a preempted thread's absence, which
//    is a scheduler tick or a fiber's quantum) for waiters and holder alike;
//    time stamps are the CPU's counter (bench/support/ticks.hpp, unfenced:
//    a stamp late by a few ns does not matter here).
//
// Per-waiter state: the node belongs to lockbench's contender() handle, kept
// for the whole run, so a fiber that migrates between workers keeps it.
//
// Memory orders:
//  * the swap into the tail is acq_rel (acquire: an empty queue's value was
//    written by the last holder's release CAS, whose critical section we
//    must see; release: a successor that finds our node sees it reset);
//  * linking behind the predecessor is a release store of its `next`, read
//    with acquire by the releaser, who then reads our node (state, stamp);
//  * `state` = granted is stored with release and read with acquire: the
//    hand-off. `removed` is also release: it ends the releaser's reads of
//    the node before its owner resets it (the owner reads with acquire);
//  * time stamps are relaxed: they are hints, and a wrong guess only costs
//    fairness (a live waiter skipped queues again), never exclusion.
#pragma once

#include "spin_support.hpp"
#include "../support/ticks.hpp"

#include <atomic>
#include <cstdint>

namespace lockbench::locks {

class mcs_tp_lock {
  enum state : int { waiting, granted, removed };

  struct alignas(line) node {
    std::atomic<node*> next{nullptr};
    std::atomic<int> state{waiting};
    std::atomic<std::uint64_t> stamp{0};  // ticks: the waiter's last sign of life
  };

 public:
  static constexpr std::int64_t stale_ns = 50000;

  class waiter {
   public:
    explicit waiter(mcs_tp_lock& l) : lock_(&l) {}
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;

    void lock() noexcept {
      while (!lock_->enqueue_and_wait(node_)) {
      }
    }
    void unlock() noexcept { lock_->release(node_); }

   private:
    mcs_tp_lock* lock_;
    node node_;
  };

  mcs_tp_lock() = default;
  mcs_tp_lock(const mcs_tp_lock&) = delete;
  mcs_tp_lock& operator=(const mcs_tp_lock&) = delete;

  waiter contender() { return waiter(*this); }
  static constexpr std::size_t lockbench_size() { return sizeof(std::atomic<node*>) + sizeof(std::uint64_t); }

 private:
  static std::uint64_t now() noexcept { return bench::detail::read_counter(); }
  static std::uint64_t stale_ticks() noexcept {
    static const std::uint64_t t = static_cast<std::uint64_t>(stale_ns * bench::ticks_per_ns());
    return t;
  }
  static bool is_stale(std::uint64_t stamp, std::uint64_t at) noexcept {
    return at > stamp && at - stamp > stale_ticks();
  }

  // Queues `n` and spins until it is granted (true) or removed (false).
  bool enqueue_and_wait(node& n) noexcept {
    n.next.store(nullptr, std::memory_order_relaxed);
    n.state.store(waiting, std::memory_order_relaxed);
    node* pred = tail_.exchange(&n, std::memory_order_acq_rel);
    if (pred) {
      // Stamped before a releaser can find us (the release store below).
      n.stamp.store(now(), std::memory_order_relaxed);
      pred->next.store(&n, std::memory_order_release);
      int s;
      while ((s = n.state.load(std::memory_order_acquire)) == waiting) wait_a_little(n);
      if (s == removed) return false;
    }
    holder_stamp_.store(now(), std::memory_order_relaxed);
    return true;
  }

  // One round of waiting: publish that we are alive; give the CPU up when
  // the holder seems not to be running.
  void wait_a_little(node& n) noexcept {
    relax_for(8);
    std::uint64_t t = now();
    n.stamp.store(t, std::memory_order_relaxed);
    if (is_stale(holder_stamp_.load(std::memory_order_relaxed), t)) give_up_cpu();
  }

  // Passes the lock to the first successor that is alive, or leaves it free.
  void release(node& mine) noexcept {
    node* cur = &mine;
    for (;;) {
      node* succ = successor_of(cur);
      if (cur != &mine) cur->state.store(removed, std::memory_order_release);  // last touch of a skipped node
      if (!succ) return;                                                       // the queue was empty: the lock is free
      if (!is_stale(succ->stamp.load(std::memory_order_relaxed), now())) {
        succ->state.store(granted, std::memory_order_release);
        return;
      }
      cur = succ;
    }
  }

  // cur's successor, waiting for it to link itself in; nullptr if cur was
  // the tail and the queue is now empty.
  node* successor_of(node* cur) noexcept {
    node* succ = cur->next.load(std::memory_order_acquire);
    if (succ) return succ;
    node* expected = cur;
    if (tail_.compare_exchange_strong(expected, nullptr, std::memory_order_release, std::memory_order_relaxed))
      return nullptr;
    while (!(succ = cur->next.load(std::memory_order_acquire))) relax();
    return succ;
  }

  std::atomic<node*> tail_{nullptr};
  // Ticks when the holder took the lock; on a line of its own, as every
  // waiter reads it while arrivals swap the tail.
  alignas(line) std::atomic<std::uint64_t> holder_stamp_{0};
};

}  // namespace lockbench::locks
