// jiffy/detail/wake.hpp — the notifier's side of the waiter protocol:
// delivering claimed waiters, and waking a list's waiters.
//
// Rules:
//  * A notifier claims waiters under the lock of the list they were on
//    (claim_waiter, detail/waiter.hpp) and delivers them after releasing it:
//    making a fiber runnable may take queue locks and wake workers, none of
//    which should happen under a primitive's lock.
//  * deliver()'s last touch of a waiter is the mark that lets a plain thread
//    return; a futex wake may follow on its address, which is harmless even
//    if the waiter has gone (detail/platform/futex.hpp).
//  * A primitive whose waiter may destroy it as soon as it is woken counts
//    its notifiers in flight (inflight_wakers) and waits for them in its
//    destructor.
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/queues.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/detail/waiter.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

// Makes a claimed waiter run: a fiber becomes runnable, a thread returns.
inline void deliver(waiter* wt) noexcept {
  if (fiber_control* f = wt->fiber) {
    trace_wake(f);
    make_runnable(f);
  } else {
    wt->state.store(wait_delivered, std::memory_order_release);
    futex_wake(&wt->state);
  }
}

// Claims every waiter of `list` (guarded by `lock`, which the caller holds)
// in one go, releases the lock, then delivers them. Claiming all under one
// hold matters: a waiter that arrives after the event must not be woken by it.
inline void wake_all_and_unlock(wait_list<waiter>& list, raw_spinlock& lock) noexcept {
  waiter* head = nullptr;
  waiter** tail = &head;
  while (waiter* wt = list.pop_front())
    if (claim_waiter(wt)) {
      *tail = wt;
      tail = &wt->wnext;
    }
  *tail = nullptr;
  lock.unlock();
  while (head) {
    waiter* next = head->wnext;  // read before delivery: the waiter may be gone after it
    deliver(head);
    head = next;
  }
}

// Claims the first waiter that has not timed out; releases `lock`. Returns
// whether one was woken.
inline bool wake_one_and_unlock(wait_list<waiter>& list, raw_spinlock& lock) noexcept {
  waiter* claimed = nullptr;
  while (!claimed && !list.empty()) {
    waiter* wt = list.pop_front();
    if (claim_waiter(wt)) claimed = wt;
  }
  lock.unlock();
  if (claimed) deliver(claimed);
  return claimed != nullptr;
}

// After making a fiber runnable from a fiber: if that asked this worker to
// switch (the new fiber outranks the caller), switch now rather than at the
// next preemption point. Not from inside a primitive's wake path: call it
// once the primitive is done with its own state.
inline void preempt_check_resched_after_wake() noexcept {
  cpu_local* c = this_cpu();
  if (c->current && !in_atomic(c) && c->need_resched.load(std::memory_order_relaxed)) preempt_schedule();
}

// Counts notifiers still using a primitive after the state change that lets
// its waiters return; the primitive's destructor waits for them. (A waiter
// that was just woken may legally destroy the mutex, condition variable or
// wait_group at once.)
class inflight_wakers {
 public:
  // relaxed: the release operation that follows (the state change) orders it.
  void enter() noexcept { n_.fetch_add(1, std::memory_order_relaxed); }
  void exit() noexcept { n_.fetch_sub(1, std::memory_order_release); }
  void drain() const noexcept {
    for (unsigned spins = 0; n_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 1000)
        cpu_relax();
      else
        yield_thread();
    }
  }

 private:
  std::atomic<std::uint32_t> n_{0};
};

}  // namespace jiffy::detail
