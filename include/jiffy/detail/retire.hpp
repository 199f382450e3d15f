// jiffy/detail/retire.hpp — fiber stacks in and out, and the end of a
// fiber's life.
//
// Rules:
//  * A fiber's control block and stack are kept by two references (the
//    handle's and the running fiber's); the last release returns the stack
//    to the worker's cache or the runtime's pool, and drops the runtime
//    reference the fiber held.
//  * fiber_retire runs on the context that follows a finished fiber — off
//    its stack — possibly inside the preemption signal handler: it must not
//    allocate or free (the stack pool's release does neither).
//  * The last fiber to retire while the runtime stops wakes stop_runtime
//    (a seq_cst handshake on `live` and `stopping`).
//  * A retiring fiber leaves the registry of live fibers before its stack,
//    which holds its links, can be released (detail/live_fibers.hpp).
#pragma once

#include <jiffy/detail/live_fibers.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sanitizers.hpp>

#include <atomic>
#include <mutex>

namespace jiffy::detail {

// A worker keeps up to stack_cache_size stacks of its own and trades with
// the shared pool half a cache at a time: a worker that only spawns (its
// fibers finishing on another worker) or only retires takes the pool's lock
// once per eight stacks, not once per stack.
inline constexpr unsigned stack_batch = worker::stack_cache_size / 2;

inline void release_stack(runtime_core* rt, const stack_span& s) noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);  // the worker's cache must not be shared with a preempting fiber
  worker* w = cpu->w;
  if (s.size != rt->stacks.stack_size()) {  // another size's pool: no per-worker cache
    rt->stacks.owner_of(s).release(s);
  } else if (w && w->rt == rt) {
    if (w->stack_cached == worker::stack_cache_size) {  // full: the older half goes back
      rt->stacks.standard().release(w->stack_cache, stack_batch);
      for (unsigned i = stack_batch; i < worker::stack_cache_size; ++i)
        w->stack_cache[i - stack_batch] = w->stack_cache[i];
      w->stack_cached -= stack_batch;
    }
    w->stack_cache[w->stack_cached++] = s;
  } else {
    rt->stacks.standard().release(s);
  }
  runtime_exit(cpu);
}

// A stack of `usable` bytes (stack_pools::size_for).
inline bool allocate_stack(runtime_core* rt, std::size_t usable, stack_span& s) noexcept {
  // Created on first use of the size, outside the runtime section (it may
  // allocate and take a mutex).
  stack_pool* other = usable != rt->stacks.stack_size() ? &rt->stacks.pool_for(usable) : nullptr;
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);
  worker* w = cpu->w;
  bool ok = true;
  if (other) {
    ok = other->allocate(s);
  } else if (w && w->rt == rt) {
    if (w->stack_cached == 0)
      w->stack_cached = static_cast<unsigned>(rt->stacks.standard().allocate(w->stack_cache, stack_batch));
    ok = w->stack_cached != 0;
    if (ok) s = w->stack_cache[--w->stack_cached];
  } else {
    ok = rt->stacks.standard().allocate(s);
  }
  runtime_exit(cpu);
  return ok;
}

inline void release_fiber_ref(fiber_control* f) noexcept {
  // acq_rel: whoever frees the stack must see all writes to the control block.
  if (f->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  runtime_core* rt = f->rt;
  stack_span s = f->stack;  // the control block lives on this stack
  release_stack(rt, s);
  rt->drop_ref();
}

// Runs on the context that follows a finished fiber.
inline void fiber_retire(fiber_control* f) noexcept {
  runtime_core* rt = f->rt;
  // relaxed: read only by the serving thread, where main fibers retire.
  if (f->main_only) rt->main_live.fetch_sub(1, std::memory_order_relaxed);
  unlink_live_fiber(f);
  sanitizer_destroy_fiber(f->san);
  release_fiber_ref(f);
  // seq_cst, with stop_runtime's store of `stopping` and load of `live`: each
  // side writes one and reads the other, so either we see `stopping` or it
  // sees live == 0.
  if (rt->counts->live.fetch_sub(1, std::memory_order_seq_cst) == 1 && rt->stopping.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> lk(rt->drain_lock);
    rt->drained.notify_all();
  }
}

}  // namespace jiffy::detail
