// jiffy/detail/switch.hpp — the context switch, and the two ways runtime
// code gives up the CPU (park, yield).
//
// The rules of this file, before the code.
//
// How a switch happens.  A context switch is a jump between stacks
// (context_*.hpp). The side that leaves describes what must happen once it
// is off its stack — re-queue it (yield), release the wait-list lock it
// parked under, arm its timer, or retire it (it finished) — and the side that
// arrives does it (finish_switch). Until then no other thread can see the
// leaver as runnable: that is the whole of the synchronisation between
// "I park" and "someone wakes me on another worker".
//
// Preempt count across a switch.  Switches happen only inside the runtime,
// with the runtime part of preempt_count raised by exactly one (plus one per
// raw_spinlock the post-switch action will release). The arriving side
// inherits that and drops it when it returns to its caller. The user part
// (preempt_disable nesting, normally 0 at a switch) and the migrate_disable
// count are saved in the leaving fiber and restored on arrival: they travel
// with the fiber.
//
// Thread-locals.  After a jump returns, the code may be on another OS thread.
// Nothing computed from this_cpu() before the jump is used after it.
//
// Slices.  Every switch starts a new slice: the worker's slice number is
// bumped, with bit 0 telling whether a fiber runs, need_resched is cleared,
// and leaving the idle loop wakes a sleeping monitor
// (detail/preemption/state.hpp). The monitor times slices, not fibers.
#pragma once

#include <jiffy/detail/context.hpp>
#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/platform/cycle_clock.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/retire.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/trace_points.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

// Always inlined, with switch_to: an out-of-line call around the jump would
// end in a `ret` that the return-stack predictor misses on every switch.
[[gnu::always_inline]] inline void finish_switch(transfer t) noexcept {
  cpu_local* cpu = this_cpu();
  worker* w = cpu->w;
  fiber_control* me = cpu->current;
  sanitizer_after_switch(me ? me->san : w->san);
  fiber_control* prev = w->prev;
  if (prev)
    prev->sp = t.from;
  else
    w->sched_sp = t.from;
  if (me) {
    me->home = w;
    attach_user_preempt(cpu, me->saved_preempt);
    cpu->migrate_disable = me->saved_migrate;
  }
  // Not cleared after: every switch sets it (switch_to is the one jump).
  post_action act = w->pending;
  switch (act.kind) {
    case post_action::none: break;
    case post_action::requeue:
      if (unsigned rank = prev->rank(); rank != rank_fair)
        w->rt->classes.push(prev, rank);  // real-time or idle class (detail/sched_class.hpp)
      else if (prev->must_stay_home())
        home_push(w, prev);
      else
        ring_push(w, prev);
      break;
    case post_action::retire: fiber_retire(prev); break;
    case post_action::call: act.fn(act.arg); break;
  }
}

// Leaves the current context (a fiber, or the worker's own loop when
// cpu->current is null) for `next` (a fiber, or the worker's loop when null);
// `why` is what a tracer is told the leaving fiber left for. `cpu` is the
// caller's this_cpu(), passed in because each this_cpu() is a compiler
// barrier. Returns when the current context is resumed, possibly on another
// thread.
[[gnu::always_inline]] inline void switch_to(cpu_local* cpu, fiber_control* next, post_action act,
                                             switch_reason why) noexcept {
  worker* w = cpu->w;
  fiber_control* self = cpu->current;
  trace_switch(w, self, next, why);
  unsigned user_preempt = detach_user_preempt(cpu);
  if (self) {
    self->saved_preempt = user_preempt;
    self->saved_migrate = cpu->migrate_disable;
    if (!self->stack.canary_intact()) {
      message m;
      fatal(
          describe_fiber(m.text("jiffy: fiber stack overflow ("), self->id, self->name).text(", detected by canary)"));
    }
  }
  cpu->migrate_disable = 0;
  cpu->need_resched.store(0, std::memory_order_relaxed);  // a new slice starts
  std::uint64_t slice = w->slice.load(std::memory_order_relaxed);
  w->slice.store((((slice >> 1) + 1) << 1) | (next ? 1 : 0), std::memory_order_relaxed);
  if (!self) wake_monitor_if_idle(w->rt->monitor);  // leaving the idle loop: the monitor must watch us
  w->running_fiber.store(next ? next->id : 0, std::memory_order_relaxed);
  w->running_name.store(next ? next->name : nullptr, std::memory_order_relaxed);
  w->running_sched.store(next ? pack_running(next->rank(), next->sched.policy, next->sched.weight) : 0,
                         std::memory_order_relaxed);
  // Run delay (detail/run_delay.hpp): one clock read ends the arriving
  // fiber's wait and starts the leaving one's, if it stays runnable.
  if (w->measuring_run_delay) [[likely]] {
    std::uint64_t now = cycle_clock_now();
    if (act.kind == post_action::requeue) self->runnable_since = now;
    if (next) w->delays.record(next->sched.policy, run_delay_between(next->runnable_since, now));
    w->switched_at.store(now, std::memory_order_relaxed);
  }
  w->prev = self;
  w->pending = act;
  cpu->current = next;
  if (act.kind != post_action::retire) worker_counters::bump(w->counters.switches);  // else counted at the exit
  sanitizer_before_switch(self ? self->san : w->san, next ? next->san : w->san, act.kind == post_action::retire);
  transfer t = jump_context(next ? next->sp : w->sched_sp, nullptr);
  finish_switch(t);
}

// The current fiber gives up the CPU without becoming runnable; `act` (run
// on the next context) is what makes it wakeable. Call inside runtime_enter.
inline void park_current(post_action act) noexcept {
  cpu_local* cpu = this_cpu();
  worker* w = cpu->w;
  worker_counters::bump(w->counters.parks);
  // A switch while a preemption is requested is that preemption: the work
  // it was requested for waits in the global queue (a fiber woken by a
  // timer the monitor fired, or by the network), so serve that first.
  if (cpu->need_resched.load(std::memory_order_relaxed)) serve_global_first_after_preemption(w);
  switch_to(cpu, pick_next(w, /*may_poll=*/false), act, switch_reason::park);
}

// this_fiber::yield() for runtime code: lets others on this worker run.
// `cpu` is this_cpu(), which the caller may already have.
inline void yield_fiber(cpu_local* cpu = this_cpu()) noexcept {
  runtime_enter(cpu);
  worker* w = cpu->w;
  if (cpu->need_resched.load(std::memory_order_relaxed)) serve_global_first_after_preemption(w);  // as in park_current
  cpu->need_resched.store(0, std::memory_order_relaxed);
  // sched_yield(): to a fiber of the same rank or higher, else keep running.
  if (fiber_control* next = pick_next(w, true, cpu->current->rank())) {
    worker_counters::bump(w->counters.yields);
    switch_to(cpu, next, post_action{post_action::requeue}, switch_reason::yield);
  }
  runtime_exit(this_cpu());
}

}  // namespace jiffy::detail
