// jiffy/detail/idle.hpp — idle workers: who sleeps, and waking them.
//
// The rules of this file, before the code.
//
// A worker with nothing to run parks its thread (worker_idle, in
// detail/worker.hpp): it adds itself to the runtime's idle list, counts
// itself among the `sleepers`, looks for work one last time, and sleeps —
// in the netpoller if nobody else is in it, else on its own futex word,
// until the earliest timer of any worker. A parked worker uses no CPU.
//
// The store-load handshake.  Every way to make work visible and every way
// to go to sleep meet in the same pattern, and a wake-up can be lost only if
// both sides miss each other:
//
//     sleeper                              waker
//     publish "I sleep" (sleepers, idle)   publish the work (a queue, a timer)
//     store_load_barrier()                 store_load_barrier()
//     look for work                        look for sleepers
//
// With a full barrier between each side's store and its load, at least one
// side sees the other's store: the sleeper finds the work, or the waker
// finds the sleeper and wakes it. The pairs are:
//   * work made runnable (wake_idle_if_needed) / worker_idle's last look;
//   * a timer armed (arm_timer_here, detail/wait.hpp) / the sleeper's
//     deadline, computed after it is listed;
//   * wake_worker_locked's sleep_word store / netpoll_block's `polling`
//     store: either the poller sees the wake, or the waker sees it polling
//     and interrupts the poll;
//   * a look at the network ending (netpoll_release_after_look) / a worker
//     that found the poller taken and slept on its futex instead;
//   * a worker leaving its idle loop / the monitor going to sleep
//     (detail/preemption/state.hpp).
// Promela models of the first pair (tests/model/idle_handshake.pml) and of
// the poller hand-over (poller_handover.pml) are checked by spin in CI
// (ctest promela_idle_and_poller_handshakes_lose_no_wakeup).
//
// Spinning.  A woken worker is `spinning` until it finds work or sleeps
// again; while one spins, nobody wakes another (it will find the work, and
// the last spinner to find work wakes the next: stop_spinning). This keeps a
// burst of wake-ups from waking every worker for one fiber.
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/runtime_core.hpp>

#include <atomic>
#include <mutex>

namespace jiffy::detail {

// Caller holds rt->idle_lock and w is in the idle list.
inline void remove_from_idle_locked(runtime_core* rt, worker* w) noexcept {
  for (std::size_t i = 0; i < rt->idle.size(); ++i)
    if (rt->idle[i] == w) {
      rt->idle[i] = rt->idle.back();
      rt->idle.pop_back();
      break;
    }
  w->in_idle_list = false;
  rt->sleepers.fetch_sub(1, std::memory_order_seq_cst);
}

inline void wake_worker_locked(runtime_core* rt, worker* w) noexcept {
  remove_from_idle_locked(rt, w);
  // The woken worker finds the work through the queues' own acquire loads;
  // this store only ends its sleep. A handshake with netpoll_block's store
  // of `polling` and load of sleep_word: either the poller sees this store,
  // or we see it polling and wake the poll.
  w->sleep_word.store(1, std::memory_order_relaxed);
  store_load_barrier();
  if (w->polling.load(std::memory_order_relaxed)) rt->poller.interrupt();
  futex_wake(&w->sleep_word);
}

inline void wake_one_idle(runtime_core* rt) noexcept {
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  if (rt->idle.empty()) return;
  worker* w = rt->idle.back();
  w->spinning = true;
  rt->spinning.fetch_add(1, std::memory_order_seq_cst);
  wake_worker_locked(rt, w);
}

// Called after making work available to any worker. The barrier pairs with
// the one in worker_idle(): either the sleeper's re-check sees our work
// or we see it in the idle list.
inline void wake_idle_if_needed(runtime_core* rt) noexcept {
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_seq_cst) > 0 && rt->spinning.load(std::memory_order_seq_cst) == 0)
    wake_one_idle(rt);
}

// Whether a worker is idle or already looking for work.
inline bool idle_worker_available(const runtime_core* rt) noexcept {
  return rt->sleepers.load(std::memory_order_relaxed) > 0 || rt->spinning.load(std::memory_order_relaxed) > 0;
}

// Wakes the thread serving the main worker, if it sleeps (the handshake is
// in detail/main_thread.hpp: it clears the word and says it sleeps, then
// looks for work; we set the word, then look whether it sleeps).
inline void wake_main(worker* mw) noexcept {
  mw->sleep_word.store(1, std::memory_order_release);
  store_load_barrier();
  if (mw->main_asleep.load(std::memory_order_relaxed)) futex_wake(&mw->sleep_word);
}

// Wakes a specific worker (it has work only it may run).
inline void wake_worker(runtime_core* rt, worker* w) noexcept {
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_seq_cst) == 0) return;
  std::lock_guard<std::mutex> lk(rt->idle_lock);
  if (w->in_idle_list) wake_worker_locked(rt, w);
}

}  // namespace jiffy::detail
