// jiffy/detail/trace_points.hpp — where the scheduler tells its tracer
// (runtime_options::trace, the built-in recorder) what happened.
//
// Rules:
//  * Each trace point is an inline test of one flag the caller's cache
//    already holds (worker::tracing in the switch, runtime_core::trace.on
//    elsewhere) and an out-of-line, cold call when it is set: a program
//    that does not trace pays one predictable branch per event.
//  * A fiber is described before it is queued: once another worker may run
//    it, it may finish and its control block be reused.
//  * The trace points run inside the runtime section (the switch, the wake
//    paths) or in the preemption signal handler; the hooks' rules are in
//    jiffy/trace.hpp.
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/trace.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

inline trace_fiber describe_for_trace(const fiber_control* f) noexcept {
  if (!f) return {};
  return {f->id, f->name, f->sched.policy, f->sched.priority};
}

// Where the calling thread is, as trace_event::worker says it.
inline int trace_worker_index(const runtime_core* rt) noexcept {
  const worker* w = this_cpu()->w;
  return w && w->rt == rt ? static_cast<int>(w->index) : -1;
}

// The fiber running on the calling thread if it belongs to rt (0: none).
inline std::uint64_t trace_current_fiber(const runtime_core* rt) noexcept {
  const cpu_local* cpu = this_cpu();
  return cpu->w && cpu->w->rt == rt && cpu->current ? cpu->current->id : 0;
}

[[gnu::cold, gnu::noinline]] inline void trace_emit(const runtime_core* rt, trace_hook trace_hooks::*which, int worker,
                                                    const fiber_control* f, std::uint64_t other,
                                                    switch_reason why = switch_reason::yield) noexcept {
  rt->trace.emit(which, trace_event{now_ns(), worker, describe_for_trace(f), other, why});
}

// A slice that ends at a preemption point or by signal ended for a more
// urgent fiber if a waker asked for exactly this slice's end.
inline switch_reason refine_preemption_reason(const worker* w, switch_reason why) noexcept {
  if (why != switch_reason::preempted && why != switch_reason::rescheduled) return why;
  bool for_wakeup = w->wakeup_resched_slice.load(std::memory_order_relaxed) == w->slice.load(std::memory_order_relaxed);
  return for_wakeup ? switch_reason::wakeup_preempted : why;
}

// The switch, before it bumps the slice: `self` leaves (null: the worker's
// own loop), `next` arrives (null: the loop). One time stamp for both.
[[gnu::cold, gnu::noinline]] inline void trace_switch_slow(const worker* w, const fiber_control* self,
                                                           const fiber_control* next, switch_reason why) noexcept {
  const runtime_core* rt = w->rt;
  std::int64_t now = now_ns();
  int index = static_cast<int>(w->index);
  if (self)
    rt->trace.emit(&trace_hooks::on_switch_out,
                   trace_event{now, index, describe_for_trace(self), 0, refine_preemption_reason(w, why)});
  if (next) rt->trace.emit(&trace_hooks::on_switch_in, trace_event{now, index, describe_for_trace(next), 0});
}

[[gnu::always_inline]] inline void trace_switch(const worker* w, const fiber_control* self, const fiber_control* next,
                                                switch_reason why) noexcept {
  if (w->tracing) [[unlikely]]
    trace_switch_slow(w, self, next, why);
}

// A new fiber, before it is queued; its spawner is the calling fiber if it
// is one of rt's.
inline void trace_spawn(const runtime_core* rt, const fiber_control* f) noexcept {
  if (rt->trace.on) [[unlikely]]
    trace_emit(rt, &trace_hooks::on_spawn, trace_worker_index(rt), f, trace_current_fiber(rt));
}

// A parked fiber made runnable, before it is queued.
inline void trace_wake(const fiber_control* f) noexcept {
  const runtime_core* rt = f->rt;
  if (rt->trace.on) [[unlikely]]
    trace_emit(rt, &trace_hooks::on_wake, trace_worker_index(rt), f, trace_current_fiber(rt));
}

// The calling fiber's function returned.
inline void trace_finish(const worker* w, const fiber_control* self) noexcept {
  if (w->tracing) [[unlikely]]
    trace_emit(w->rt, &trace_hooks::on_finish, static_cast<int>(w->index), self, 0);
}

// An idle worker's thread is about to sleep, or has woken.
inline void trace_worker_sleep(const worker* w, bool asleep) noexcept {
  if (w->tracing) [[unlikely]]
    trace_emit(w->rt, asleep ? &trace_hooks::on_worker_sleep : &trace_hooks::on_worker_wake, static_cast<int>(w->index),
               nullptr, 0);
}

// In the preemption signal handler: the signal found an unsafe point.
inline void trace_preempt_deferred(const worker* w, const fiber_control* self) noexcept {
  if (w->tracing) [[unlikely]]
    trace_emit(w->rt, &trace_hooks::on_preempt_deferred, static_cast<int>(w->index), self, 0);
}

// A waker asked worker `target` to make way for fiber `id` (described by
// the waker before queueing it: only its id, name and class are left).
inline void trace_wakeup_preempt(const runtime_core* rt, const worker* target, const trace_fiber& f) noexcept {
  if (rt->trace.on) [[unlikely]]
    rt->trace.emit(&trace_hooks::on_wakeup_preempt, trace_event{now_ns(), trace_worker_index(rt), f, target->index});
}

}  // namespace jiffy::detail
