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
//
// Counting without a shared line.  A frame of jobs spawns on one worker and
// retires on another; a count both sides update (fibers alive, references
// to the runtime) would move its cache line between them twice per fiber,
// and every spawn would wait for it. So each worker counts its own side
// (percpu_ref and SRCU style): worker_counters::spawned, worker::retired,
// worker::refs_delta, written by that worker only, inside the runtime
// section; threads outside the workers use the runtime's shared counts.
//  * Fibers alive = spawns - retirements, summed over every worker. Read
//    retirements first, with acquire, then spawns: a fiber's spawn happens
//    before its retirement, so every retirement counted has its spawn
//    counted, and the sum is never below the number alive. It is exact once
//    nothing spawns, which is when it is asked: while stopping.
//  * The stopper stores `stopping` then sums; a retirer adds to its count
//    (a seq_cst RMW) then loads `stopping`: either it sees the stopper and,
//    finding the sum 0, signals `drained`, or the stopper's sum includes it.
//  * References: the shared count starts biased by refs_unfolded, so that
//    no release off the workers can take it to 0 while the workers hold an
//    unknown share; stop_runtime adds their refs_delta in, and removes the
//    bias, after joining them (the join orders their writes before it).
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

// Fibers spawned and not yet retired (see "Counting without a shared line").
inline std::uint64_t fibers_alive(runtime_core* rt) noexcept {
  // seq_cst (acquire and more): with each retirement, the spawns that
  // happened before it; and the stopper's store-then-sum handshake.
  std::uint64_t retired = rt->retired_outside.load(std::memory_order_seq_cst);
  for_each_worker(rt, [&](worker& w) { retired += w.retired.load(std::memory_order_seq_cst); });
  // relaxed: ordered after the loads above by their acquire.
  std::uint64_t spawned = rt->outside_spawns.load(std::memory_order_relaxed);
  for_each_worker(rt, [&](worker& w) { spawned += w.counters.spawned.load(std::memory_order_relaxed); });
  return spawned - retired;
}

// A worker's own counts: written by it alone, inside the runtime section.
inline void add_worker_refs(worker* w, std::int64_t n) noexcept { single_writer_add(w->refs_delta, n); }

// Gives the stack back to w's cache (w: the worker running the caller, or
// nullptr off rt's workers) or to its pool. Inside the runtime section.
inline void release_stack(runtime_core* rt, worker* w, const stack_span& s) noexcept {
  if (s.size != rt->stacks.stack_size()) {  // another size's pool: no per-worker cache
    rt->stacks.owner_of(s).release(s);
  } else if (w) {
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
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);  // the worker's cache and counts must not be shared with a preempting fiber
  worker* w = cpu->w && cpu->w->rt == rt ? cpu->w : nullptr;
  release_stack(rt, w, s);
  if (w) add_worker_refs(w, -1);
  runtime_exit(cpu);
  if (!w) rt->drop_ref();  // last: it may free rt
}

// Runs on the context that follows a finished fiber.
inline void fiber_retire(fiber_control* f) noexcept {
  runtime_core* rt = f->rt;
  // relaxed: read only by the serving thread, where main fibers retire.
  if (f->main_only) rt->main_live.fetch_sub(1, std::memory_order_relaxed);
  unlink_live_fiber(f);
  sanitizer_destroy_fiber(f->san);
  release_fiber_ref(f);
  // seq_cst RMW, with stop_runtime's store of `stopping` and sum: each side
  // writes one and reads the other, so either we see `stopping` or it sees
  // this retirement. (Inside the runtime section: `w` stays ours.)
  worker* w = this_cpu()->w;
  auto& retired = w && w->rt == rt ? w->retired : rt->retired_outside;
  retired.fetch_add(1, std::memory_order_seq_cst);
  if (rt->stopping.load(std::memory_order_seq_cst) && fibers_alive(rt) == 0) {
    std::lock_guard<std::mutex> lk(rt->drain_lock);
    rt->drained.notify_all();
  }
}

}  // namespace jiffy::detail
