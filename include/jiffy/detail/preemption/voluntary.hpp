// jiffy/detail/preemption/voluntary.hpp — the voluntary path: where a
// preemption point lands when the monitor has set need_resched.
//
// Rules (the design is in detail/preemption.hpp):
//  * Reached from preempt_enable() that brings the count to 0,
//    preempt_check_resched(), cond_resched(), through preempt_schedule_hook;
//    a no-op outside fibers and with the count raised.
//  * It switches only if the flag was meant for the running slice
//    (resched_slice): a flag raised for the previous slice after its switch
//    is cleared and ignored. The public need_resched() does not report such
//    a flag either (resched_is_current_impl), so that a fiber that sees
//    need_resched() always switches at its preempt_enable().
//  * The switched-out fiber is re-queued like a yield and may migrate: a
//    preemption point is an ordinary call, after which no thread-local
//    address is live in a register.
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/switch.hpp>

#include <atomic>

namespace jiffy::detail {

// Whether the need_resched flag our caller saw raised was meant for the
// slice running on w (a requester cannot raise the flag and check the slice
// in one step: request.hpp).
inline bool resched_meant_for_running_slice(const worker* w) noexcept {
  // Pairs with the requester's release store of need_resched, which our
  // caller read: resched_slice is then at least as new as that flag.
  std::atomic_thread_fence(std::memory_order_acquire);
  return w->resched_slice.load(std::memory_order_relaxed) == w->slice.load(std::memory_order_relaxed);
}

// resched_is_current_hook: what the public need_resched() asks once it has
// seen the flag raised. Only reads: the flag is cleared where it is acted
// on (below), so a request racing with this look is never lost.
inline bool resched_is_current_impl(cpu_local* cpu) noexcept {
  return !cpu->w || !cpu->current || resched_meant_for_running_slice(cpu->w);
}

// Where preempt_enable()/cond_resched() land when need_resched() is set.
inline void preempt_schedule_impl() noexcept {
  cpu_local* cpu = this_cpu();
  if (!cpu->current || in_atomic(cpu)) return;
  worker* w = cpu->w;
  bool meant_for_this_slice = resched_meant_for_running_slice(w);
  cpu->need_resched.store(0, std::memory_order_relaxed);
  // A flag meant for the previous fiber, raised just after the switch:
  // switching now would cut a slice that has barely begun (a fiber
  // resumed from an asynchronous preemption right before a cond_resched()
  // would hand the worker straight back without running). If the monitor
  // meant this slice after all, it sets the flag again at its next look.
  if (!meant_for_this_slice) return;
  runtime_enter(cpu);
  serve_global_first_after_preemption(w);
  if (fiber_control* next = pick_next(w, true, preemption_min_rank(cpu->current, w))) {
    worker_counters::bump(w->counters.voluntary);
    switch_to(cpu, next, post_action{post_action::requeue}, switch_reason::rescheduled);
  }
  runtime_exit(this_cpu());
}

}  // namespace jiffy::detail
