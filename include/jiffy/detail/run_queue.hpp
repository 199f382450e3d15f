// jiffy/detail/run_queue.hpp — where runnable fibers wait, and making a
// fiber runnable.
//
// The rules of this file, before the code.
//
// Queues.  Each worker has a stealable ring (fibers free to migrate), a
// private FIFO (`home_queue`) for fibers that must run on this worker
// (pinned at spawn, inside migrate_disable(), or preempted by signal), and an
// inbox through which other threads hand it such fibers. The runtime has one
// global queue, under a spinlock, for fibers made runnable by plain threads
// and for a ring's overflow.
//
// Where a fiber goes (make_runnable).  A fiber's new child (spawn) goes to
// its spawner's `runnext` slot, as Go's newproc does, pushing what was there
// to the ring, and may wake an idle worker to share the work: a spawner that
// joins or waits at once runs the child where it was made (thieves leave
// runnext alone for a few microseconds: detail/pick.hpp), and in a burst
// every child but the last is in the ring for thieves. Other new work meant
// to spread (parallel_for's helpers, a batch of timer or network wake-ups)
// goes to the ring directly. A fiber woken by a
// fiber (a mutex hand-off, a notify, a join) goes to the waker's `runnext`
// slot and runs as soon as the waker stops: it is likely to touch what the
// waker just wrote, and a hand-off between two fibers then costs two
// switches on one worker, not a futex wake of another. Made runnable by a
// plain thread, or on the main worker by a fiber other than its own, a fiber
// goes to the global queue. A fiber that must stay home goes to its home
// worker's queue or inbox, and that worker is woken; a main fiber goes to
// the main worker's whatever its class (detail/main_thread.hpp).
//
// Who takes it is detail/pick.hpp's business.
//
// Queue operations run inside the runtime section: a preemption halfway
// through one would leave the queue to the next fiber half-updated.
#pragma once

#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/platform/cycle_clock.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/preemption/request.hpp>
#include <jiffy/detail/runtime_core.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

inline void global_push(runtime_core* rt, fiber_control* f) noexcept {
  f->spilled = false;
  rt->global_lock.lock();
  rt->global.push_back(f);
  rt->global_size.store(rt->global.size(), std::memory_order_relaxed);
  rt->global_lock.unlock();
}

// The global queue's first fiber; with `only_new_work`, only if it was
// spawned or woken there (not spilled from a ring): new work, which goes
// first after a preemption.
inline fiber_control* global_pop(runtime_core* rt, bool only_new_work = false) noexcept {
  if (rt->global_size.load(std::memory_order_relaxed) == 0) return nullptr;
  rt->global_lock.lock();
  fiber_control* f = rt->global.front();
  if (f && !(only_new_work && f->spilled))
    rt->global.pop_front();
  else
    f = nullptr;
  rt->global_size.store(rt->global.size(), std::memory_order_relaxed);
  rt->global_lock.unlock();
  return f;
}

// Owner: a full ring spills half of itself, and `f`, to the global queue.
// Out of line and cold, so that ring_push inlines into the switch.
[[gnu::noinline, gnu::cold]] inline void ring_spill(worker* w, fiber_control* f) noexcept {
  runtime_core* rt = w->rt;
  intrusive_fifo<fiber_control> spill;
  w->ring.take_half([&](fiber_control* x) {
    x->spilled = true;
    spill.push_back(x);
  });
  f->spilled = true;
  spill.push_back(f);
  rt->global_lock.lock();
  rt->global.splice_back(spill);
  rt->global_size.store(rt->global.size(), std::memory_order_relaxed);
  rt->global_lock.unlock();
}

// Owner: push to the ring, spilling half of it to the global queue if full.
inline void ring_push(worker* w, fiber_control* f) noexcept {
  if (!w->ring.push(f)) [[unlikely]]
    ring_spill(w, f);
}

inline void home_push(worker* w, fiber_control* f) noexcept {
  w->home_queue.push_back(f);
  w->home_size.store(static_cast<std::uint32_t>(w->home_queue.size()), std::memory_order_relaxed);
}

inline fiber_control* home_pop(worker* w) noexcept {
  fiber_control* f = w->home_queue.pop_front();
  if (f) w->home_size.store(static_cast<std::uint32_t>(w->home_queue.size()), std::memory_order_relaxed);
  return f;
}

// Another thread hands w a fiber only w may run.
inline void inbox_push(worker* w, fiber_control* f) noexcept {
  w->inbox_lock.lock();
  w->inbox.push_back(f);
  w->inbox_nonempty.store(true, std::memory_order_release);  // pairs with inbox_drain's acquire
  w->inbox_lock.unlock();
}

// Moves what other threads handed w (inbox_push) to its home queue. Out of
// line: every pick checks the inbox, and it is almost always empty.
[[gnu::noinline]] inline void inbox_take(worker* w) noexcept {
  w->inbox_lock.lock();
  w->home_queue.splice_back(w->inbox);
  w->inbox_nonempty.store(false, std::memory_order_relaxed);
  w->inbox_lock.unlock();
  w->home_size.store(static_cast<std::uint32_t>(w->home_queue.size()), std::memory_order_relaxed);
}

inline void inbox_drain(worker* w) noexcept {
  if (w->inbox_nonempty.load(std::memory_order_acquire)) inbox_take(w);  // pairs with inbox_push's release
}

// Why a fiber becomes runnable, which decides where it waits (see the rules
// above) and whether it may preempt (wakeup_preempt: a fair fiber only if it
// slept): `child`, a fiber's new child; `spawned`, new work to spread over
// the workers; `woken`, a wake-up by a fiber (or the first of a batch);
// `woken_spread`, one of a batch of wake-ups (timers, the network), spread
// like new work.
enum class ready_reason { spawned, child, woken, woken_spread };

// Whether it slept (a wake-up, which may preempt), and whether it waits in
// the readying worker's runnext (else in its ring, to spread).
constexpr bool is_wakeup(ready_reason why) noexcept {
  return why == ready_reason::woken || why == ready_reason::woken_spread;
}
constexpr bool waits_in_runnext(ready_reason why) noexcept {
  return why == ready_reason::child || why == ready_reason::woken;
}

// Makes a parked or new fiber runnable. Callable from any thread.
inline void make_runnable_locked(fiber_control* f, ready_reason why) noexcept;

// Runs inside the runtime section: a preemption halfway through a queue
// operation would leave the queue to the next fiber half-updated.
inline void make_runnable(fiber_control* f, ready_reason why = ready_reason::woken) noexcept {
  cpu_local* cpu = this_cpu();
  runtime_enter(cpu);
  make_runnable_locked(f, why);
  runtime_exit(cpu);
}

// A waker outside the fiber's runtime (a plain thread, a blocking() helper,
// the monitor, another runtime's worker) goes on using the runtime after
// the fiber is queued — to wake a worker, to ask for a preemption — while
// the fiber may run, finish and let the runtime stop at once. It is counted
// for that time, and stop_runtime waits for the count to drop to zero
// before it stops the workers (detail/lifecycle.hpp).
class foreign_waker_scope {
 public:
  foreign_waker_scope(runtime_core* rt, bool foreign) noexcept : rt_(foreign ? rt : nullptr) {
    // Relaxed: the queue push that follows (a release) carries it to
    // whoever runs the fiber, and so to stop_runtime, which waits for that.
    if (rt_) rt_->foreign_wakers.fetch_add(1, std::memory_order_relaxed);
  }
  ~foreign_waker_scope() {
    // release: stop_runtime, seeing zero, sees the waker done with it.
    if (rt_) rt_->foreign_wakers.fetch_sub(1, std::memory_order_release);
  }
  foreign_waker_scope(const foreign_waker_scope&) = delete;
  foreign_waker_scope& operator=(const foreign_waker_scope&) = delete;

 private:
  runtime_core* rt_;
};

inline void make_runnable_locked(fiber_control* f, ready_reason why) noexcept {
  worker* w = this_cpu()->w;
  runtime_core* rt = f->rt;
  foreign_waker_scope scope(rt, !w || w->rt != rt);
  if (rt->options.measure_run_delay)
    f->runnable_since = cycle_clock_now();  // its run delay starts (detail/run_delay.hpp)
  // Read before f is queued: from then on another worker may run it.
  wakeup_candidate c = describe_for_wakeup(f, is_wakeup(why));
  if (c.home && c.home->serves_main) {  // the program's own thread (detail/main_thread.hpp): any class
    worker* mw = c.home;
    if (w == mw) {
      home_push(mw, f);
    } else {
      inbox_push(mw, f);
      wake_main(mw);
    }
    return;
  }
  if (c.rank != rank_fair) {  // real-time or idle class (detail/sched_class.hpp)
    rt->classes.push(f, c.rank);
    if (c.home)
      wake_worker(rt, c.home);
    else
      wake_idle_if_needed(rt);
    wakeup_preempt(rt, c);
    return;
  }
  if (c.home) {
    worker* home = c.home;
    if (w == home) {
      home_push(home, f);
    } else {
      inbox_push(home, f);
      wake_worker(rt, home);
      wakeup_preempt(rt, c);
    }
    return;
  }
  if (w && w->rt == rt && !w->serves_main) {  // (the main worker keeps only its own fibers)
    if (waits_in_runnext(why)) {
      // acq_rel: a thief that takes it must see its saved context.
      fiber_control* displaced = w->runnext.exchange(f, std::memory_order_acq_rel);
      if (!displaced) {
        // A woken fiber runs as soon as the waker stops; a child may be
        // shared if its spawner goes on (steal_runnext waits a little).
        if (why == ready_reason::child) wake_idle_if_needed(rt);
        return;
      }
      f = displaced;
    }
    ring_push(w, f);
    wake_idle_if_needed(rt);
    return;
  }
  // From a plain thread, another runtime, the monitor (timers, the network):
  // the global queue, and a worker preempted for it if none is idle.
  global_push(rt, f);
  wake_idle_if_needed(rt);
  wakeup_preempt(rt, c);
}

}  // namespace jiffy::detail
