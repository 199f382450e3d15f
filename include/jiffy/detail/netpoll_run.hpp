// jiffy/detail/netpoll_run.hpp — polling: who owns the poller, and handing
// readiness to the fibers and threads that wait for it.
//
// Rules (the design is in detail/netpoll.hpp):
//  * One owner at a time (netpoller::busy): an idle worker sleeping in the
//    poller (netpoll_block), or a busy worker or the monitor taking a
//    non-blocking look (netpoll_if_stale).
//  * Readiness is handed over under the descriptor's lock: a waiter there is
//    claimed, otherwise the edge is remembered in the descriptor's flag.
//    Claimed waiters are delivered after the lock is released.
//  * A poll runs inside the runtime section; the park path never polls (a
//    parking fiber holds the lock of what it waits on until after the
//    switch, and a poll could need that very lock).
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/netpoll.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/detail/wake.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

// One direction of a ready descriptor, under its lock: the waiter parked
// for it (if it can be claimed) joins `ready`; else the edge is remembered
// for the next call.
inline void hand_readiness(waiter*& slot, bool& edge_seen, waiter*& ready) noexcept {
  if (slot && claim_waiter(slot)) {
    slot->wnext = ready;
    ready = slot;
    slot = nullptr;
  } else {
    edge_seen = true;
  }
}

// One poll: waits until `deadline` (now_ns() base; 0 = do not wait,
// no_deadline_ns = until an event), then wakes the fibers and threads whose
// descriptors became ready. Runs inside the runtime section.
inline int netpoll_poll(runtime_core* rt, std::int64_t deadline) noexcept {
  netpoller& np = rt->poller;
  poll_event events[128];
  int n = np.os.wait(events, 128, deadline);
  np.last_poll.store(now_ns(), std::memory_order_relaxed);
  waiter* ready = nullptr;  // claimed waiters, linked through wnext
  for (int i = 0; i < n; ++i) {
    auto* pd = static_cast<poll_desc*>(events[i].ptr);
    if (!pd) {
      np.os.drain_interrupts();
      continue;
    }
    sanitizer_acquire(pd);
    bool in = events[i].readable;
    bool out = events[i].writable;
    pd->lock.lock();
    if (in) hand_readiness(pd->reader, pd->readable, ready);
    if (out) hand_readiness(pd->writer, pd->writable, ready);
    pd->lock.unlock();
  }
  while (ready) {
    waiter* next = ready->wnext;  // read before delivery: the waiter may be gone after it
    if (fiber_control* f = ready->fiber) {
      trace_wake(f);
      make_runnable(f, ready_reason::woken_spread);  // spread them: idle workers get woken
    } else {
      deliver(ready);
    }
    ready = next;
  }
  return n;
}

// A non-blocking look at the network, by whoever is not idle (the monitor, a
// busy worker): claim the poller, poll, release it. seq_cst, with the idle
// worker's sleepers increment and its own claim in netpoll_block: if its
// claim saw ours, our release sees it among the sleepers.
[[nodiscard]] inline bool netpoll_claim_for_look(runtime_core* rt) noexcept {
  bool expected = false;
  return rt->poller.busy.compare_exchange_strong(expected, true, std::memory_order_seq_cst);
}

// A worker that went idle while we held the poller found it taken and sleeps
// on its futex: with nobody left in the poller, readiness would go unseen
// until some worker woke for another reason (with every worker idle and the
// monitor asleep: never). So wake one to take the poller over.
//
// A handshake with worker_idle (it counts itself a sleeper, then tries the
// poller): either it finds the poller free, or we see it sleeping.
inline void netpoll_release_after_look(runtime_core* rt) noexcept {
  rt->poller.busy.store(false, std::memory_order_release);  // the next owner sees what this look did
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_relaxed) > 0) wake_one_idle(rt);
}

// Polls without waiting if nobody else is polling and nobody has for
// `stale_ns`. From busy workers and the monitor.
inline void netpoll_if_stale(runtime_core* rt, std::int64_t stale_ns) noexcept {
  if (!rt->poller.os.is_open()) return;
  if (now_ns() - rt->poller.last_poll.load(std::memory_order_relaxed) < stale_ns) return;
  if (!netpoll_claim_for_look(rt)) return;
  netpoll_poll(rt, 0);
  netpoll_release_after_look(rt);
}

// The idle worker's sleep, in the poller. Returns false if another worker is
// the poll owner (the caller then sleeps on its futex).
inline bool netpoll_block(worker* w, std::int64_t deadline) noexcept {
  runtime_core* rt = w->rt;
  bool expected = false;
  if (!rt->poller.busy.compare_exchange_strong(expected, true, std::memory_order_seq_cst)) return false;
  // A handshake with wake_worker_locked (it stores sleep_word, then loads
  // `polling`): either we see the wake here, or it sees us polling and
  // interrupts the poll.
  w->polling.store(true, std::memory_order_relaxed);
  store_load_barrier();
  if (w->sleep_word.load(std::memory_order_relaxed) == 0) netpoll_poll(rt, deadline);
  w->polling.store(false, std::memory_order_relaxed);
  rt->poller.busy.store(false, std::memory_order_release);
  return true;
}

}  // namespace jiffy::detail
