// jiffy/detail/preemption/request.hpp — asking a worker to switch: the
// preemption signal's identity, need_resched requests, and wake-up
// preemption (a more urgent fiber became runnable).
//
// Rules (the design is in detail/preemption.hpp and detail/sched_class.hpp):
//  * Any thread may ask a worker to switch (the monitor when a quantum is
//    used up, a waker when a more urgent fiber becomes runnable). A request
//    names the slice it is for: resched_slice only grows (a CAS max), so
//    two requesters racing over a switch leave the newer slice, and a
//    preemption point that finds a flag meant for an older slice ignores it
//    (preemption/voluntary.hpp). Nobody clears another's flag.
//  * Under `full` and `lazy` a request to another worker also sends the
//    signal, tagged with the slice; a request to the caller's own worker
//    only sets the flag (the caller is inside the runtime, where a signal
//    would only be deferred), and the caller's next preemption point or the
//    monitor's retry acts on it.
//  * Every request wakes the monitor for a retry soon after
//    (resched_retry_ns): a signal that lands in libc or the vDSO is deferred,
//    and the retry, not the next quantum, gets the fiber out.
//  * Wake-up preemption never preempts a worker for a fiber an idle worker
//    can take: the idle worker is woken instead (make_runnable does).
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sched_class.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/options.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace jiffy::detail {

inline constexpr std::uint64_t preempt_tag = std::uint64_t{0x6a} << 56;
inline constexpr std::uint64_t preempt_slice_mask = (std::uint64_t{1} << 56) - 1;

// How soon a request that has not been acted on is retried with a signal.
inline constexpr std::int64_t resched_retry_ns = 50000;

struct signal_slot {
  signal_action previous{};
  bool installed = false;
};

struct preempt_signals {
  std::mutex mu;
  signal_slot slots[signal_count];
  std::atomic<pid_t> pid{0};  // the same value from every runtime; atomic for the readers
  static preempt_signals& get() noexcept {
    static preempt_signals s;
    return s;
  }
};

inline bool signals_preempt(preempt_mode m) noexcept { return m == preempt_mode::full || m == preempt_mode::lazy; }

// Wakes the monitor if it would sleep past `when`. The barrier pairs with
// the monitor's before it sleeps: either it sees what the caller wrote
// before this call, or we see its deadline. (A nudge that races with
// another only wakes it once more.)
inline void nudge_monitor(runtime_core* rt, std::int64_t when) noexcept {
  monitor_state& m = rt->monitor;
  store_load_barrier();
  if (m.sleep_until.load(std::memory_order_relaxed) <= when) return;
  m.sleep_until.store(when, std::memory_order_relaxed);
  m.word.store(1, std::memory_order_relaxed);
  // A handshake with the monitor's in_poll store and word load (monitor.hpp).
  store_load_barrier();
  if (m.in_poll.load(std::memory_order_relaxed))
    rt->poller.interrupt();
  else
    futex_wake(&m.word);
}

// The signal carries the slice it is aimed at: a handler that finds another
// slice running knows it came too late.
inline void send_preempt_signal(runtime_core* rt, worker* w, std::uint64_t slice) noexcept {
  void* tag = reinterpret_cast<void*>(preempt_tag | ((slice >> 1) & preempt_slice_mask));
  if (send_thread_signal(preempt_signals::get().pid.load(std::memory_order_relaxed), w->os.tid,
                         rt->options.preempt_signal, tag))
    rt->monitor.signals_sent.fetch_add(1, std::memory_order_relaxed);
}

// Raises w's need_resched for `slice` (a value of w->slice). Returns false
// if that slice has already ended.
inline bool raise_need_resched(worker* w, std::uint64_t slice) noexcept {
  std::uint64_t seen = w->resched_slice.load(std::memory_order_relaxed);
  while (seen < slice && !w->resched_slice.compare_exchange_weak(seen, slice, std::memory_order_relaxed)) {
  }
  // release: a worker that sees the flag (and fences acquire:
  // preempt_schedule_impl) sees which slice it is for.
  w->cpu->need_resched.store(1, std::memory_order_release);
  return w->slice.load(std::memory_order_relaxed) == slice;
}

// The worker that should make way for a fiber of rank `rank` (and fair
// policy `policy` if it is fair), or nullptr: the one running the least
// important work that this fiber outranks. A fair fiber outranks a running
// fair or idle-class one (it has slept: wake-up preemption); a real-time one
// outranks lower ranks only. `only` restricts the choice to one worker (a
// fiber that must stay home).
inline worker* wakeup_target(runtime_core* rt, unsigned rank, std::uint64_t fiber_id, worker* only,
                             std::uint64_t& slice) noexcept {
  worker* best = nullptr;
  unsigned best_rank = rank;
  std::size_t n = rt->workers.size();
  std::size_t start = fiber_id % n;  // spread equal candidates
  for (std::size_t i = 0; i < n; ++i) {
    worker* w = rt->workers[(start + i) % n].get();
    if (only && w != only) continue;
    std::uint64_t s = w->slice.load(std::memory_order_relaxed);
    if (!(s & 1)) continue;  // in its scheduler loop: it picks the most urgent fiber anyway
    std::uint64_t running = w->running_sched.load(std::memory_order_relaxed);
    unsigned r = running_rank(running);
    bool outranked = rank > rank_fair ? r < rank : r <= rank_fair;
    if (!outranked || w->running_fiber.load(std::memory_order_relaxed) == fiber_id) continue;
    if (!best || r < best_rank) {
      best = w;
      best_rank = r;
      slice = s;
    }
  }
  return best;
}

// Asks worker w (running `slice`) to switch now on behalf of a more urgent
// fiber; returns whether the request was made.
inline bool request_wakeup_preemption(runtime_core* rt, worker* w, std::uint64_t slice) noexcept {
  // Relaxed: raise_need_resched's release store publishes it with the flag.
  w->wakeup_resched_slice.store(slice, std::memory_order_relaxed);
  if (!raise_need_resched(w, slice)) {
    // The slice ended meanwhile; the worker may have picked something else
    // than the fiber we preempt for. The monitor looks again shortly (and
    // preempts for a waiting real-time fiber: monitor.hpp).
    nudge_monitor(rt, now_ns() + resched_retry_ns);
    return false;
  }
  rt->monitor.wakeup_preemptions.fetch_add(1, std::memory_order_relaxed);
  worker* self = this_cpu()->w;
  std::int64_t now = now_ns();
  if (w != self && signals_preempt(rt->mode.load(std::memory_order_relaxed))) {
    w->resched_signalled_at.store(now, std::memory_order_relaxed);
    send_preempt_signal(rt, w, slice);
  }
  nudge_monitor(rt, now + resched_retry_ns);
  return true;
}

// What wakeup_preempt needs to know of a fiber, read before it is queued:
// once queued, another worker may run it, and it may finish and be freed.
struct wakeup_candidate {
  unsigned rank;
  sched_policy policy;
  std::uint64_t id;
  worker* home;  // non-null: it may run only there
  bool woken;    // it slept (false: newly spawned)
};

inline wakeup_candidate describe_for_wakeup(const fiber_control* f, bool woken) noexcept {
  return {f->rank(), f->sched.policy, f->id, f->must_stay_home() ? f->home : nullptr, woken};
}

// A fiber described by `c` has just been queued: preempt a worker for it if
// the mode and its class say so. Called by make_runnable after it woke any
// idle worker.
inline void wakeup_preempt(runtime_core* rt, const wakeup_candidate& c) noexcept {
  preempt_mode mode = rt->mode.load(std::memory_order_relaxed);
  if (mode == preempt_mode::none || c.rank == rank_idle) return;
  // Fair: only a fiber that slept, not a new one; never batch; under lazy,
  // fair fibers wait for the quantum (PREEMPT_LAZY).
  if (c.rank == rank_fair && (!c.woken || c.policy == sched_policy::batch || mode == preempt_mode::lazy)) return;
  if (!c.home && idle_worker_available(rt)) return;
  // A target that switched between our look and our request may have
  // picked something else (or this very fiber): look again, a few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::uint64_t slice = 0;
    worker* w = wakeup_target(rt, c.rank, c.id, c.home, slice);
    if (!w) return;
    if (request_wakeup_preemption(rt, w, slice)) {
      unsigned priority = c.rank > rank_fair ? c.rank - rank_rt_base : 0;
      trace_wakeup_preempt(rt, w, trace_fiber{c.id, nullptr, c.policy, static_cast<int>(priority)});
      return;
    }
  }
}

}  // namespace jiffy::detail
