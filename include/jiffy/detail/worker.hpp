// jiffy/detail/worker.hpp — the worker loop: find work, run it, go idle.
//
// Rules:
//  * Each worker is one OS thread running worker_main until its runtime
//    stops and no fiber is left. It runs inside the runtime section except
//    while a fiber runs.
//  * worker_idle is the sleeper's half of the handshakes in detail/idle.hpp:
//    list itself, count itself a sleeper, barrier, then one last look for
//    work (queues, other workers' rings and runnext) and the earliest timer
//    of any worker before it sleeps — in the netpoller if it is free, else
//    on its futex word.
//  * A worker publishes what the monitor reads of its thread (tid, CPU
//    clock, state file) before it counts down `ready`; start_runtime starts
//    the monitor only after every worker has.
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/mcs_nodes.hpp>
#include <jiffy/detail/netpoll_run.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/trace_points.hpp>

#include <atomic>
#include <latch>
#include <mutex>

namespace jiffy::detail {

inline void worker_idle(worker* w) noexcept {
  runtime_core* rt = w->rt;
  {
    std::lock_guard<std::mutex> lk(rt->idle_lock);
    w->sleep_word.store(0, std::memory_order_relaxed);
    // Until the real deadline is known, claim "forever": a timer armed
    // meanwhile then wakes us rather than being missed.
    w->sleep_deadline.store(no_deadline_ns, std::memory_order_relaxed);
    rt->idle.push_back(w);
    w->in_idle_list = true;
    rt->sleepers.fetch_add(1, std::memory_order_seq_cst);
  }
  store_load_barrier();
  bool work = w->inbox_nonempty.load(std::memory_order_acquire) || !w->ring.empty() ||
              rt->global_size.load(std::memory_order_relaxed) > 0 ||
              (rt->stopping.load(std::memory_order_seq_cst) && fibers_alive(rt) == 0) || rt->classes.idle_waiting() ||
              (rt->classes.rt_waiting() && !w->rt_throttled.load(std::memory_order_relaxed));
  std::int64_t deadline = no_deadline_ns;
  for (auto& v : rt->workers) {
    if (v.get() != w && (!v->ring.empty() || v->runnext.load(std::memory_order_relaxed))) work = true;
    std::int64_t e = v->timers.earliest();
    if (e < deadline) deadline = e;
  }
  w->sleep_deadline.store(deadline, std::memory_order_relaxed);
  if (!work && deadline > now_ns()) {
    worker_counters::bump(w->counters.sleeps);
    trace_worker_sleep(w, true);
    // One idle worker sleeps in the netpoller, the others on their futex.
    if (!netpoll_block(w, deadline)) futex_wait(&w->sleep_word, 0, deadline == no_deadline_ns ? -1 : deadline);
    trace_worker_sleep(w, false);
  }
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  if (w->in_idle_list) remove_from_idle_locked(rt, w);
}

inline void stop_spinning(worker* w, bool found) noexcept {
  if (!w->spinning) return;
  w->spinning = false;
  // The last spinner to find work wakes another: there may be more.
  if (w->rt->spinning.fetch_sub(1, std::memory_order_seq_cst) == 1 && found) wake_idle_if_needed(w->rt);
}

// How long a worker that ran out of work keeps looking before it sleeps.
// In a burst of short fibers (a frame's jobs) the next spawn or steal is
// microseconds away, while a sleep costs this worker a futex wait and
// whoever makes work next a futex wake, each several microseconds of system
// call and the wake-up's scheduling delay besides (Go's spinning Ms and
// oneTBB's workers look for a while too). An idle program pays this once
// per idle period, not per fiber.
inline constexpr std::int64_t idle_spin_ns = 50000;

// Looks for work for up to idle_spin_ns, as a spinning worker (detail/
// idle.hpp: while one spins, wakers wake nobody else; it stops spinning in
// worker_main whether it found work or not, before it sleeps). At most half
// the busy workers spin at once, as in Go, so spinners cannot crowd out the
// workers whose fibers they wait for.
inline fiber_control* spin_for_work(worker* w) noexcept {
  runtime_core* rt = w->rt;
  if (!w->spinning) {
    int busy = static_cast<int>(rt->workers.size()) - rt->sleepers.load(std::memory_order_relaxed);
    if (2 * rt->spinning.load(std::memory_order_relaxed) >= busy) return nullptr;
    w->spinning = true;
    rt->spinning.fetch_add(1, std::memory_order_seq_cst);
  }
  std::int64_t until = now_ns() + idle_spin_ns;
  do {
    for (int i = 0; i < 32; ++i) cpu_relax();
    if (fiber_control* f = find_work(w)) return f;
    if (rt->stopping.load(std::memory_order_relaxed)) return nullptr;
  } while (now_ns() < until);
  return nullptr;
}

inline void worker_main(worker* w, std::latch& ready) noexcept {
  cpu_local* cpu = this_cpu();
  cpu->w = w;
  cpu->current = nullptr;
  w->cpu = cpu;
  w->os.describe_current_thread();
  w->rng = 0x9e3779b97f4a7c15ull * (w->index + 1);
  sanitizer_init_thread(w->san);
  ensure_alternate_signal_stack();  // for the stack-overflow report (detail/fault.hpp)
  // An idle worker sleeps until the earliest timer of its fibers: on time,
  // not up to the default 50 us of slack late.
  use_minimal_timer_slack();
  use_allocator_for_mcs_blocks(&w->rt->options.allocator);
  runtime_enter(cpu);
  ready.count_down();  // `ready` dies with start_runtime: no use after this
  runtime_core* rt = w->rt;
  for (;;) {
    fiber_control* f = find_work(w);
    if (!f) f = spin_for_work(w);
    stop_spinning(w, f != nullptr);
    if (f) {
      switch_to(cpu, f, post_action{}, switch_reason::yield);  // (the loop leaves: no fiber, no reason)
      continue;
    }
    if (rt->stopping.load(std::memory_order_acquire) && fibers_alive(rt) == 0) break;
    worker_idle(w);
  }
  runtime_exit(this_cpu());
  cpu = this_cpu();
  cpu->w = nullptr;
}

inline void worker_release_resources(worker* w) noexcept { w->os.release(); }

}  // namespace jiffy::detail
