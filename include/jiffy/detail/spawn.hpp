// jiffy/detail/spawn.hpp — a fiber's birth and its first and last
// instructions.
//
// Rules:
//  * create_fiber lays out the new stack: the control block at the top
//    (cache-line aligned), the callable below it, and an initial context
//    that enters fiber_entry. The callable may use at most half the stack.
//  * fiber_entry runs the callable, repairs a preempt or migrate count the
//    fiber left raised (a bug, reported by debug builds), wakes the joiners,
//    and switches away for good; the next context retires it
//    (detail/retire.hpp).
//  * Per-fiber MCS nodes are returned in the fiber's own context, not in the
//    retiring post-switch action, which may run inside a signal handler.
#pragma once

#include <jiffy/detail/context.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/fiber.hpp>
#include <jiffy/detail/live_fibers.hpp>
#include <jiffy/detail/mcs_nodes.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/retire.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/detail/wake.hpp>

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace jiffy::detail {

[[noreturn]] inline void fiber_entry(transfer t) noexcept {
  finish_switch(t);
  cpu_local* cpu = this_cpu();
  fiber_control* self = cpu->current;
  runtime_exit(cpu);

  self->run(self);
  // In the fiber's own context, not the retiring post-switch action (which
  // may run inside a signal handler, where freeing is off limits).
  mcs_registry::get().leave(std::exchange(self->mcs, nullptr));

  cpu = this_cpu();
  unsigned left = user_preempt_depth(cpu->preempt_count);
  if (left || cpu->migrate_disable) {
    if constexpr (debug_checks) {
      message m;
      describe_fiber(m.text("jiffy: BUG: "), self->id, self->name).text(" exited with preempt_count ").number(left);
      m.text(" and migrate_disable ").number(cpu->migrate_disable).write_line();
    }
    (void)detach_user_preempt(cpu);  // the kernel's do_exit does the same fix-up
    cpu->migrate_disable = 0;
  }
  runtime_enter(cpu);

  // Wake joiners. A joiner may drop the handle's reference right away; the
  // running reference keeps the stack until fiber_retire.
  worker* w = this_cpu()->w;
  // Counted before joiners wake, so a joiner's stats() already includes it,
  // and its last switch too (switch_to counts no retiring switch): else a
  // joiner's reset_stats() could count that switch after the reset.
  worker_counters::bump(w->counters.finished);
  worker_counters::bump(w->counters.switches);
  self->join_lock.lock();
  self->done = true;
  wake_all_and_unlock(self->joiners, self->join_lock);
  w = this_cpu()->w;  // waking can't switch, but keep the rule: re-read after any call that might
  trace_finish(w, self);
  switch_to(this_cpu(), pick_next(w), post_action{post_action::retire}, switch_reason::finished);
  __builtin_unreachable();
}

// A new fiber joins the registry of live fibers (detail/live_fibers.hpp) and
// the count runtime_stats::fibers_spawned: both the spawning worker's (its
// list, its counter), or, from a thread outside the runtime, the runtime's
// (spawned_outside, outside_spawns). Inside the runtime section, so the
// spawner is not preempted and moved to another worker in between.
// It gets its id here too: from the worker's block of ids, or alone.
inline void register_new_fiber(runtime_core* rt, fiber_control* f) noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);
  if (worker* w = cpu->w; w && w->rt == rt) {
    if (w->ids_next == w->ids_end) {
      // relaxed: ids need only be unique, which the RMW alone guarantees.
      w->ids_next = next_fiber_id.fetch_add(fiber_id_block, std::memory_order_relaxed);
      w->ids_end = w->ids_next + fiber_id_block;
    }
    f->id = w->ids_next++;
    link_live_fiber(w->live_fibers, f);
    add_worker_refs(w, 1);  // the fiber's stack holds the runtime (detail/retire.hpp)
    worker_counters::bump(w->counters.spawned);
  } else {
    f->id = next_fiber_id.fetch_add(1, std::memory_order_relaxed);
    link_live_fiber(rt->spawned_outside, f);
    rt->add_ref();
    rt->outside_spawns.fetch_add(1, std::memory_order_relaxed);
  }
  runtime_exit(cpu);
}

// `pin_to`: a worker's index, no_pin, or pin_to_main (runtime::spawn_main).
inline constexpr int no_pin = -1;
inline constexpr int pin_to_main = -2;

// `stack_size`: fiber_options::stack_size, checked (0: the runtime's).
template <class Fn>
fiber_control* create_fiber(runtime_core* rt, Fn&& fn, int pin_to, std::size_t stack_size = 0) {
  using F = std::decay_t<Fn>;
  stack_span s;
  if (!allocate_stack(rt, rt->stacks.size_for(stack_size), s))
    fatal("cannot allocate a fiber stack (mmap failed: out of memory or address space)");
  sanitizer_unpoison_stack(s.base, s.size);
  char* top = s.top();
  auto* f = reinterpret_cast<fiber_control*>((reinterpret_cast<std::uintptr_t>(top) - sizeof(fiber_control)) &
                                             ~std::uintptr_t{cache_line - 1});
  char* callable_at = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(f) - sizeof(F)) &
                                              ~std::uintptr_t{alignof(F) < 16 ? 15 : alignof(F) - 1});
  if (callable_at < s.base + s.size / 2)
    fatal("the function object passed to spawn() is larger than half the fiber stack");
  new (f) fiber_control();
  f->rt = rt;
  f->stack = s;
  f->callable = new (callable_at) F(std::forward<Fn>(fn));
  f->run = [](fiber_control* self) noexcept {
    F* c = static_cast<F*>(self->callable);
    (*c)();  // an exception escaping here meets noexcept: std::terminate, as std::thread does
    c->~F();
  };
  if (pin_to >= 0) {
    f->pinned = true;
    f->home = rt->workers[static_cast<std::size_t>(pin_to)].get();
  } else if (pin_to == pin_to_main) {
    f->pinned = true;
    f->main_only = true;
    f->home = rt->main_worker.get();
    rt->main_live.fetch_add(1, std::memory_order_relaxed);
  }
  f->sp = make_context(callable_at, &fiber_entry);
  sanitizer_create_fiber(f->san, s.base, s.size);
  register_new_fiber(rt, f);
  return f;
}

}  // namespace jiffy::detail
