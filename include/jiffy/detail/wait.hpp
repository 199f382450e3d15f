// jiffy/detail/wait.hpp — the waiting side of the waiter protocol: parking
// a fiber (or blocking a thread) until it is notified or its deadline
// passes, and the waits built on it (join, sleep).
//
// Rules:
//  * The waiter is linked where a notifier will find it under that list's
//    lock, and the lock is released only after the fiber is off its stack
//    (a post-switch action, park_post): a notifier that claims it cannot
//    make it runnable before it has stopped running.
//  * A deadline is a timer on the parking worker's heap, armed by the same
//    post-switch action; the timer and a notifier race by CAS on the
//    waiter's state (detail/waiter.hpp), and exactly one wins.
//  * A plain thread waits on the waiter's own state word with a futex, and
//    returns only once the notifier has marked it delivered.
//  * Blocking with the preempt count raised is a bug ("scheduling while
//    atomic"), reported by debug builds with what was called.
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/retire.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/detail/waiter.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace jiffy::detail {

inline void debug_might_sleep(const char* what) noexcept {
  if constexpr (debug_checks) {
    unsigned c = user_preempt_depth(this_cpu()->preempt_count);
    if (c) {
      message m;
      m.text("jiffy: BUG: scheduling while atomic: ").text(what).text(" called with preempt_count ").number(c);
      if (fiber_control* f = this_cpu()->current) describe_fiber(m.text(" by "), f->id, f->name);
      fatal(
          m.text(" (held: preempt_disable(), a jiffy spinlock, or a lock jiffy does not own: a std::mutex, a pthread "
                 "lock, a static's initialiser, call_once)"));
    }
  }
}

struct park_request {
  raw_spinlock* lock;
  waiter* w;
  std::int64_t deadline;
};

inline void arm_timer_here(waiter* wt, std::int64_t deadline) noexcept {
  worker* w = this_cpu()->w;
  // The main worker's timers are fired only while it is served: there, only
  // its own fibers' (detail/main_thread.hpp). Another fiber helped there
  // arms on worker 0, whose timers every worker fires.
  if (w->serves_main && !(wt->fiber && wt->fiber->main_only)) w = w->rt->workers[0].get();
  wt->timer.deadline = deadline;
  wt->timer_owner = w;
  w->timers.insert(&wt->timer);
  // An idle worker may sleep past this deadline (it computed its own before
  // this timer existed); wake it, so the timer fires on time even if this
  // worker is about to run a long fiber.
  runtime_core* rt = w->rt;
  // This worker may run fibers past the deadline: the monitor fires a busy
  // worker's timers on time (preemption/monitor.hpp), if it is awake then.
  if (rt->mode.load(std::memory_order_relaxed) != preempt_mode::none) nudge_monitor(rt, deadline);
  // The barrier pairs with worker_idle's; a worker not yet in the idle
  // list will see this timer when it computes its deadline.
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_seq_cst) == 0) return;
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  for (worker* v : rt->idle)
    if (v->sleep_deadline.load(std::memory_order_relaxed) > deadline) {
      wake_worker_locked(rt, v);
      return;
    }
}

inline void park_post(void* arg) noexcept {
  // Copy first: once the timer is armed, another worker may fire it, and the
  // parked fiber may run and return, taking *arg (on its stack) with it.
  park_request r = *static_cast<park_request*>(arg);
  if (r.deadline != no_deadline_ns) arm_timer_here(r.w, r.deadline);
  if (r.lock) r.lock->unlock();
}

// Blocks the caller until `wt` is woken or `deadline` (now_ns() time base)
// passes. The caller holds `lock` (may be null when nothing else can see
// `wt`), having linked `wt` where a notifier will find it; the lock is
// released on return. Returns wait_notified or wait_timed_out; after a time-out
// the caller must unlink `wt` itself if it is still linked. `what` and
// `object` say what a parked fiber waits for, to a debugger (park_record).
inline std::uint32_t block_waiter(waiter& wt, raw_spinlock* lock, std::int64_t deadline, const char* what,
                                  const void* object) noexcept {
  cpu_local* cpu = this_cpu();
  if (fiber_control* self = cpu->current) {
    wt.fiber = self;
    self->parked = park_record{what, object, &wt, deadline};
    park_request req{lock, &wt, deadline};
    runtime_enter(cpu);
    park_current(post_action{post_action::call, &park_post, &req});
    self->parked.what = nullptr;  // the other fields mean something only with `what` set
    std::uint32_t s = wt.state.load(std::memory_order_acquire);
    if (s == wait_notified && wt.timer_owner) wt.timer_owner->timers.remove(&wt.timer);
    runtime_exit(this_cpu());
    return s;
  }
  // A plain thread sleeps on the waiter's own word. It returns only once the
  // notifier has marked it delivered (or its deadline claimed it): until
  // then the notifier may still be using the waiter.
  if (lock) lock->unlock();
  for (;;) {
    // acquire: pairs with the notifier's release, for what it wrote before.
    std::uint32_t s = wt.state.load(std::memory_order_acquire);
    if (s == wait_delivered) return wait_notified;
    if (s == wait_timed_out) return wait_timed_out;
    if (s == wait_notified) {
      futex_wait(&wt.state, wait_notified);  // claimed: delivery is a few instructions away
      continue;
    }
    futex_wait(&wt.state, wait_pending, deadline == no_deadline_ns ? -1 : deadline);
    if (deadline != no_deadline_ns && now_ns() >= deadline) {
      std::uint32_t expected = wait_pending;
      if (wt.state.compare_exchange_strong(expected, wait_timed_out, std::memory_order_acq_rel)) return wait_timed_out;
    }
  }
}

// Waits for fiber `f` to finish (fiber::join), then drops the handle's
// reference. The fiber's join_lock guards `done` and `joiners`.
inline void join_fiber(fiber_control* f) noexcept {
  f->join_lock.lock();
  if (f->done) {
    f->join_lock.unlock();
  } else {
    waiter wt;
    f->joiners.push_back(&wt);
    (void)block_waiter(wt, &f->join_lock, no_deadline_ns, "join", f);
  }
  release_fiber_ref(f);
}

// this_fiber::sleep_until for fibers and plain threads alike. A fiber whose
// deadline has passed yields instead (a sleep is a scheduling point).
inline void sleep_until_ns(std::int64_t deadline) noexcept {
  cpu_local* cpu = this_cpu();
  if (!cpu->current) {
    sleep_thread_until(deadline);
    return;
  }
  debug_might_sleep("this_fiber::sleep_for/sleep_until()");
  if (deadline <= now_ns()) {
    yield_fiber();
    return;
  }
  waiter wt;
  (void)block_waiter(wt, nullptr, deadline, "sleep", nullptr);
}

}  // namespace jiffy::detail
