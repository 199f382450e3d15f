// jiffy/detail/waiter.hpp — the waiter: one fiber or thread waiting for
// one event, and the claim that decides who wakes it.
//
// Rules:
//  * A waiter lives on the waiting side's stack for the duration of the wait
//    and is linked into whatever list the event's owner keeps (a mutex's
//    queue, a descriptor's reader slot, a fiber's joiners), under that
//    owner's lock.
//  * Its state moves away from `pending` exactly once, by CAS: to `notified`
//    by a notifier (claim_waiter, under the list's lock) or to `timed_out` by
//    its deadline. Whoever wins makes the waiter run; the loser leaves it
//    alone. This is what lets a time-out and an event race without a double
//    wake-up or a lost one.
//  * Waking is two steps: claim under the list's lock, deliver after it is
//    released (detail/wake.hpp). A claimed fiber cannot run before delivery
//    makes it runnable, and a claimed thread does not return before delivery
//    marks it `delivered`, so the waiter is alive throughout.
//  * Parking and the time-out are in detail/wait.hpp.
#pragma once

#include <jiffy/detail/timer_heap.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

struct worker;
struct fiber_control;

// Someone (a fiber or a plain thread) waiting for an event. Lives on the
// waiter's stack for the duration of the wait.
struct waiter {
  fiber_control* fiber = nullptr;  // set when a fiber waits; a plain thread futex-waits on `state`
  // pending -> notified (a notifier claimed it) -> delivered (threads only:
  //   the notifier is done with this waiter, which may now return);
  // pending -> timed_out (its deadline claimed it).
  // Exactly one party moves it away from pending, by CAS, and that party
  // makes the waiter run.
  std::atomic<std::uint32_t> state{0};
  waiter* wnext = nullptr;
  waiter* wprev = nullptr;
  bool linked = false;
  timer_entry timer;
  worker* timer_owner = nullptr;
};

enum : std::uint32_t { wait_pending = 0, wait_notified = 1, wait_timed_out = 2, wait_delivered = 3 };

// Claims `wt` for a notifier; false if it was claimed already (by another
// notifier or by its deadline). Call under the lock of the list `wt` was on.
[[nodiscard]] inline bool claim_waiter(waiter* wt) noexcept {
  std::uint32_t expected = wait_pending;
  // acq_rel: the woken side sees what the notifier wrote before; a racing
  // deadline loses.
  return wt->state.compare_exchange_strong(expected, wait_notified, std::memory_order_acq_rel);
}

}  // namespace jiffy::detail
