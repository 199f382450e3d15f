// jiffy/detail/pick.hpp — which fiber a worker runs next: picking, timers
// and stealing.
//
// The rules of this file, before the code.
//
// Order.  A worker runs fibers from, in order of preference: its `runnext`
// slot, its own queues (ring and home queue, alternating), the runtime's
// global queue (every 61st pick it looks there first, so the global queue
// cannot starve), other workers' rings (stealing half), expired timers of
// any worker, and last other workers' runnext slots. Only when all are empty
// does it go idle (detail/idle.hpp).
//
// Fairness bounds.  After 16 picks in a row from `runnext` a worker serves
// its queues first, so two fibers handing off to each other cannot starve
// the rest. Thieves leave `runnext` alone unless it sits there for a few
// microseconds (a fiber just handed a lock is about to run where it is).
// After a preemption, up to 16 picks take new work from the global queue
// first (serve_global_first_after_preemption): the monitor preempts because
// work waits, and the work the netpoller readies waits there.
//
// Timers.  Each worker keeps a heap of its fibers' deadlines; a pick fires
// the worker's due timers first, and an idle worker fires anyone's.
//
// The main worker (detail/main_thread.hpp) picks by pick_main instead: its
// own fibers by rank, then, if its serving thread helps, other work.
#pragma once

#include <jiffy/detail/netpoll_run.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sched_class.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/detail/waiter.hpp>

#include <cstddef>
#include <cstdint>

namespace jiffy::detail {

// Expired timers of `owner`, fired from the current thread's worker.
// Fibers whose timers expire in one pass run in deadline order: the first
// takes runnext (a lone timer wake-up runs next, like any wake-up), the rest
// queue behind it in the ring in the order they expired. (Giving each
// runnext in turn would run them last-first: each displaces the one before.)
// The same holds across passes: the first takes runnext only if this
// worker's runnext and ring are empty, for what waits there may be fibers
// an earlier pass woke — with runnext it would overtake them. (A worker the
// host wakes late fires 0 and 1 in one pass, runs 0, then fires 2 alone:
// 0213456789 in 5 of 150 runs of the deadline-order test under loaded qemu
// while 2 took runnext.)
inline void run_timers(worker* owner, std::int64_t now) noexcept {
  fiber_control* due[32];
  int n = 0;
  worker* here = this_cpu()->w;
  bool first = !here || (!here->runnext.load(std::memory_order_relaxed) && here->ring.empty());
  auto release_due = [&] {
    for (int i = 0; i < n; ++i) {
      trace_wake(due[i]);
      make_runnable(due[i], first ? ready_reason::woken : ready_reason::woken_spread);
      first = false;
    }
    n = 0;
  };
  owner->timers.expire(now, [&](timer_entry* e) {
    waiter* wt = reinterpret_cast<waiter*>(reinterpret_cast<char*>(e) - offsetof(waiter, timer));
    std::uint32_t expected = wait_pending;
    fiber_control* f = wt->fiber;
    // acq_rel: the woken side reads what the arming side wrote, and claims
    // the wake-up against a racing notifier.
    if (wt->state.compare_exchange_strong(expected, wait_timed_out, std::memory_order_acq_rel)) {
      if (n == 32) release_due();
      due[n++] = f;
    }
  });
  release_due();
}

inline fiber_control* pick_local(worker* w) noexcept {
  // Alternate between the two local queues when both have work, so neither
  // starves the other.
  inbox_drain(w);
  fiber_control* f;
  if (w->prefer_home) {
    f = home_pop(w);
    if (!f) f = w->ring.pop();
  } else {
    f = w->ring.pop();
    if (!f) f = home_pop(w);
  }
  w->prefer_home = !w->prefer_home;
  return f;
}

// Takes w's runnext slot. Runs on w's thread.
inline fiber_control* take_runnext(worker* w) noexcept {
  if (!w->runnext.load(std::memory_order_relaxed)) return nullptr;
  return w->runnext.exchange(nullptr, std::memory_order_acq_rel);
}

inline fiber_control* pick_in_usual_order(worker* w, runtime_core* rt, bool may_poll) noexcept;
inline fiber_control* pick_fair(worker* w, runtime_core* rt, bool may_poll) noexcept;

// How many global-queue fibers a worker runs, at most, before its own
// queues after a preemption (the same bound as a runnext streak).
inline constexpr unsigned preempted_global_picks = 16;

// A slice ends by preemption: the next picks look at new global work first
// (see pick_next), unless the preempted fiber was itself such a pick — then
// the budget is not refilled, or the queue could be served first forever.
inline void serve_global_first_after_preemption(worker* w) noexcept {
  if (!w->took_global_first) w->global_first = preempted_global_picks;
}

// The next fiber for worker w from its own queues, the global queue and its
// timers; never steals. Runs on w's thread. `may_poll` is false on the park
// path: a parking fiber holds the lock of what it waits on until after the
// switch, and a poll could need that very lock (a descriptor's).
//
// `min_rank`: take only a fiber of at least that rank (detail/sched_class.hpp;
// the caller keeps running otherwise). Real-time fibers come first (unless
// this worker is throttled: preemption/rt_throttle.hpp), then fair ones as
// below, then idle-class ones.
inline fiber_control* pick_main(worker* mw, unsigned min_rank) noexcept;

inline fiber_control* pick_next(worker* w, bool may_poll = true, unsigned min_rank = rank_idle) noexcept {
  if (w->serves_main) return pick_main(w, min_rank);  // the program's own thread (detail/main_thread.hpp)
  runtime_core* rt = w->rt;
  if (w->timers.earliest() != no_deadline_ns) run_timers(w, now_ns());
  if (rt->classes.rt_waiting() && !w->rt_throttled.load(std::memory_order_relaxed))
    if (fiber_control* f = rt->classes.pop_rt(w, min_rank)) return f;
  if (min_rank > rank_fair) return nullptr;
  if (fiber_control* f = pick_fair(w, rt, may_poll)) return f;
  return min_rank == rank_idle ? rt->classes.pop_idle(w) : nullptr;
}

// The least rank a preemption of `self` on w may switch to: an equal rank
// for a fair, idle or rr fiber (round-robin), a higher one for fifo (and a
// boosted holder); anything once w's real-time time is used up.
inline unsigned preemption_min_rank(const fiber_control* self, const worker* w) noexcept {
  unsigned r = self->rank();
  if (r <= rank_fair) return r;
  if (w->rt_throttled.load(std::memory_order_relaxed)) return rank_idle;
  return self->sched.policy == sched_policy::rr && r == self->sched.rank ? r : r + 1;
}

// The fair classes' part of pick_next.
inline fiber_control* pick_fair(worker* w, runtime_core* rt, bool may_poll) noexcept {
  // After a preemption, new work in the global queue before the worker's
  // own queues: the monitor preempts a worker because work waits, and work
  // the netpoller readies waits in the global queue. Served last, it would
  // get one turn per preemption before the preempted fiber resumed with a
  // fresh quantum. Only new work (spawned or woken), not fibers a full ring
  // spilled there, which are this worker's own backlog: served first, they
  // would starve its pinned and preempted fibers, which can run nowhere
  // else. And bounded: after preempted_global_picks such picks in a row the
  // worker's own queues get a turn whatever the global queue holds.
  if (w->global_first > 0) {
    if (fiber_control* f = global_pop(rt, /*only_new_work=*/true)) {
      --w->global_first;
      w->took_global_first = true;
      return f;
    }
    w->global_first = 0;
  }
  fiber_control* f = pick_in_usual_order(w, rt, may_poll);
  if (f) w->took_global_first = false;
  return f;
}

inline fiber_control* pick_in_usual_order(worker* w, runtime_core* rt, bool may_poll) noexcept {
  // Every 61st pick looks at the global queue (and maybe the network) first,
  // so a worker whose own queues never empty still serves them.
  if (--w->picks_until_global_check == 0) {
    w->picks_until_global_check = 61;
    if (may_poll) netpoll_if_stale(rt, 1000000);  // every worker busy: someone must still look at the network
    if (fiber_control* f = global_pop(rt)) return f;
  }
  if (w->runnext_streak < 16) {
    if (fiber_control* f = take_runnext(w)) {
      ++w->runnext_streak;
      return f;
    }
  }
  w->runnext_streak = 0;
  if (fiber_control* f = pick_local(w)) return f;
  if (fiber_control* f = global_pop(rt)) return f;
  return take_runnext(w);
}

// A thief takes another worker's runnext only if it is still there after a
// few microseconds: a fiber just handed a lock or a notification is about to
// run where it is, and stealing it would turn a local hand-off into a
// cross-core one. The thief waits without reading the slot: its line
// belongs to the victim, which writes it at every spawn and wake-up. (The
// same fiber there after the wait may be a new one at a reused address;
// taking it is still correct.)
inline fiber_control* steal_runnext(worker* victim) noexcept {
  fiber_control* f = victim->runnext.load(std::memory_order_acquire);
  if (!f) return nullptr;
  std::int64_t until = now_ns() + 3000;
  while (now_ns() < until) cpu_relax();
  if (victim->runnext.load(std::memory_order_relaxed) != f) return nullptr;
  if (victim->runnext.compare_exchange_strong(f, nullptr, std::memory_order_acq_rel)) return f;
  return nullptr;
}

inline std::uint64_t next_random(worker* w) noexcept {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return w->rng;
}

// The main worker's pick: its own fibers by rank (at least min_rank), then,
// when helping, other work. Runs on the serving thread.
inline fiber_control* pick_main(worker* mw, unsigned min_rank) noexcept {
  runtime_core* rt = mw->rt;
  if (mw->timers.earliest() != no_deadline_ns) run_timers(mw, now_ns());
  inbox_drain(mw);
  fiber_control* best = nullptr;
  for (fiber_control* f = mw->home_queue.front(); f; f = f->next)
    if (f->rank() >= min_rank && (!best || f->rank() > best->rank())) best = f;
  if (best) {
    mw->home_queue.remove(best);
    mw->home_size.store(static_cast<std::uint32_t>(mw->home_queue.size()), std::memory_order_relaxed);
    return best;
  }
  if (!mw->main_helps) return nullptr;
  if (rt->classes.rt_waiting())
    if (fiber_control* f = rt->classes.pop_rt(mw, min_rank)) return f;
  if (min_rank > rank_fair) return nullptr;
  if (fiber_control* f = mw->ring.pop()) return f;
  if (fiber_control* f = global_pop(rt)) return f;
  std::size_t n = rt->workers.size();
  std::size_t start = next_random(mw) % n;
  for (std::size_t i = 0; i < n; ++i)
    if (fiber_control* f = mw->ring.steal_half_from(rt->workers[(start + i) % n]->ring)) {
      worker_counters::bump(mw->counters.steals);
      return f;
    }
  return min_rank == rank_idle ? rt->classes.pop_idle(mw) : nullptr;
}

// pick_next, then stealing and other workers' timers. For the idle loop.
inline fiber_control* find_work(worker* w) noexcept {
  if (fiber_control* f = pick_next(w)) return f;
  runtime_core* rt = w->rt;
  std::size_t n = rt->workers.size();
  if (n > 1) {
    std::size_t start = next_random(w) % n;
    for (std::size_t i = 0; i < n; ++i) {
      worker* v = rt->workers[(start + i) % n].get();
      if (v == w) continue;
      if (fiber_control* f = w->ring.steal_half_from(v->ring)) {
        worker_counters::bump(w->counters.steals);
        return f;
      }
    }
    std::int64_t now = now_ns();
    for (auto& v : rt->workers)
      if (v.get() != w && v->timers.earliest() <= now) run_timers(v.get(), now);
    if (fiber_control* f = pick_next(w)) return f;
    for (std::size_t i = 0; i < n; ++i) {
      worker* v = rt->workers[(start + i) % n].get();
      if (v == w) continue;
      if (fiber_control* f = steal_runnext(v)) {
        worker_counters::bump(w->counters.steals);
        return f;
      }
    }
  }
  return nullptr;
}

}  // namespace jiffy::detail
