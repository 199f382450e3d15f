// jiffy/detail/priority_inheritance.hpp — boosting the holder of a
// jiffy::mutex to the rank of its most urgent waiter (the kernel's
// rt_mutex), so a medium-priority hog cannot keep a low holder from
// releasing what a high waiter needs.
//
// Rules:
//  * A fiber about to park on a mutex raises the holder's boost_rank to its
//    own rank if that is higher, and follows the chain: if the holder is
//    itself waiting for another mutex, that one's holder is raised too (at
//    most pi_chain_limit links; jiffy::mutex::boost_owner_chain says why
//    every object it touches is alive).
//  * A raised holder waiting in the class queue moves to its new rank's
//    list at once. One waiting in a fair queue (ring, runnext, global) keeps
//    its place there — those queues are lock-free and cannot be reordered —
//    and runs with its boost when its turn comes; real-time throttling
//    bounds how long that can take. A running holder keeps running, now
//    outranking what its boost outranks.
//  * The boost ends when the holder unlocks that mutex (all of it, even if
//    it holds another contended mutex: a waiter there stays parked without
//    re-boosting — a simplification of the kernel's per-lock waiter trees).
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sched_class.hpp>

#include <atomic>

namespace jiffy::detail {

inline constexpr int pi_chain_limit = 16;

// Raises `holder` to `rank` if that is above its rank now. Returns whether
// it did. Caller holds the lock of the mutex `holder` owns.
inline bool pi_boost(fiber_control* holder, unsigned rank) noexcept {
  if (!holder || holder->rank() >= rank) return false;
  holder->boost_rank.store(static_cast<std::uint8_t>(rank), std::memory_order_relaxed);
  if (holder->queued_rank != rank_not_queued) (void)holder->rt->classes.requeue(holder, rank);
  if (worker* w = this_cpu()->w) worker_counters::bump(w->counters.pi_boosts);
  return true;
}

// Records (or clears, with nullptr) the mutex the calling fiber waits to
// lock; a no-op on a plain thread.
inline void pi_set_blocked_on(fiber_control* self, void* mutex) noexcept {
  if (!self) return;
  self->pi_lock.lock();
  self->pi_blocked_on = mutex;
  self->pi_lock.unlock();
}

// The calling fiber gives up a boost when it unlocks. Returns whether it
// had one.
inline bool pi_unboost(fiber_control* self) noexcept {
  if (!self || self->boost_rank.load(std::memory_order_relaxed) == 0) return false;
  self->boost_rank.store(0, std::memory_order_relaxed);
  if (worker* w = this_cpu()->w)
    w->running_sched.store(pack_running(self->rank(), self->sched.policy, self->sched.weight),
                           std::memory_order_relaxed);
  return true;
}

}  // namespace jiffy::detail
