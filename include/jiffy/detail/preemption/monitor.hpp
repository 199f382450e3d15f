// jiffy/detail/preemption/monitor.hpp — the monitor thread: timing slices,
// deciding who is preempted, rescuing stranded work, and noticing a worker
// stuck behind a lock jiffy cannot see.
//
// Rules (the design is in detail/preemption.hpp: "Who decides", "Who is
// preempted", "How"):
//  * One monitor per runtime; it alone writes monitor_view and
//    need_resched's companion resched_slice; workers write their slices.
//  * Reads of other workers' queues and slices are relaxed: a stale read
//    only delays a decision by one tick.
//  * It sleeps when every worker has been idle for a few ticks, in a
//    handshake with the first worker to run again (preemption/state.hpp).
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/netpoll_run.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/preemption/handler.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/time.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace jiffy::detail {

// Whether work waits that only worker w may run: fibers it preempted by
// signal (they resume only here), fibers pinned to it, its due timers.
inline bool home_work_waiting_for(const worker* w, std::int64_t now) noexcept {
  return w->home_size.load(std::memory_order_relaxed) || w->inbox_nonempty.load(std::memory_order_relaxed) ||
         w->timers.earliest() <= now;
}

// Whether work waits that any worker may run: w's runnext and ring (idle
// workers steal them) and the global queue.
inline bool shared_work_waiting_for(const worker* w, const runtime_core* rt) noexcept {
  return w->runnext.load(std::memory_order_relaxed) || !w->ring.empty() ||
         rt->global_size.load(std::memory_order_relaxed);
}

// Whether a worker is idle or already looking for work.
inline bool idle_worker_available(const runtime_core* rt) noexcept {
  return rt->sleepers.load(std::memory_order_relaxed) > 0 || rt->spinning.load(std::memory_order_relaxed) > 0;
}

// Whether w's running fiber should give way. Shared work justifies it only
// when no other worker can take that work: a fiber preempted by signal may
// resume only on its own worker, so preempting it while another worker
// idles would tie two fibers to one worker — and two CPU-bound fibers
// preempting each other there stay tied until one of them switches of its
// own accord, with the other worker idle all along. The monitor wakes an
// idle worker for the shared work instead (the `stranded` rescue below).
inline bool work_waiting_for(const worker* w, const runtime_core* rt, std::int64_t now) noexcept {
  return home_work_waiting_for(w, now) || (shared_work_waiting_for(w, rt) && !idle_worker_available(rt));
}

// The signal carries the slice it is aimed at: a handler that finds another
// slice running knows it came too late.
inline void send_preempt_signal(runtime_core* rt, worker* w, std::uint64_t slice) noexcept {
  void* tag = reinterpret_cast<void*>(preempt_tag | (slice & preempt_slice_mask));
  if (send_thread_signal(preempt_signals::get().pid.load(std::memory_order_relaxed), w->os.tid,
                         rt->options.preempt_signal, tag))
    rt->monitor.signals_sent.fetch_add(1, std::memory_order_relaxed);
}

// A worker whose thread has been blocked in the kernel for over a second,
// using no CPU, while fibers wait to run on it, is very likely deadlocked:
// its running fiber waits (on a std::condition_variable, a std::mutex held
// by a parked fiber, ...) for something only a fiber queued behind it can
// do. Say so once, naming the fibers and the wait, rather than hang in
// silence; with runtime_options::stop_on_deadlock, and only for a futex
// wait (a blocking read or sleep is slow, not stuck), stop the process.
// (Holders of locks jiffy does not own are never preempted when the program
// is linked with jiffy's lock wrappers, platform/lock_interposition.hpp, so
// what remains here is misuse.)
inline void report_if_stuck(worker* w, runtime_core* rt, std::int64_t now) noexcept {
  monitor_view& m = w->monitor;
  std::uint32_t preempted = w->preempted_waiting.load(std::memory_order_relaxed);
  bool in_fiber = (w->slice.load(std::memory_order_relaxed) & 1) != 0;
  if (m.stuck_reported || !in_fiber || (preempted == 0 && !work_waiting_for(w, rt, now))) {
    m.stuck_cpu = -1;
    return;
  }
  std::int64_t cpu = thread_cpu_ns(w->os.cpu_clock);
  if (m.stuck_cpu < 0 || cpu - m.stuck_cpu > 1000000) {  // used CPU: not stuck; start over
    m.stuck_cpu = cpu;
    m.stuck_since = now;
    return;
  }
  if (now - m.stuck_since < 1000000000 || thread_is_running(w->os.stat_fd)) return;
  m.stuck_reported = true;
  long call = blocked_syscall(w->os.tid);
  bool futex = blocked_in_futex(w->os.tid, call);
  message msg;
  msg.text("jiffy: worker ").number(w->index).text(" has been blocked in the kernel (");
  msg.text(futex ? futex_wait_meaning : blocked_syscall_meaning(call)).text(") for over a second: likely a deadlock");
  msg.write_line();
  msg.text("jiffy:   fiber ").number(w->running_fiber.load(std::memory_order_relaxed));
  msg.text(" is blocked there, holding the worker's thread, while fibers wait to run on this worker (");
  msg.number(preempted).text(" preempted, ").number(w->home_size.load(std::memory_order_relaxed));
  msg.text(" pinned or resuming here, ");
  msg.number(w->ring.size() + (w->runnext.load(std::memory_order_relaxed) ? 1 : 0)).text(" queued here, ");
  msg.number(rt->global_size.load(std::memory_order_relaxed)).text(" in the global queue)");
  msg.write_line();
  msg.text(
      "jiffy:   a fiber must not block its thread waiting for another fiber (std::condition_variable, std::mutex "
      "held across a park, a thread join): use jiffy::condition_variable and jiffy::mutex");
  msg.write_line();
  if (rt->options.stop_on_deadlock && futex) {
    message stop;
    fatal(stop.text("jiffy: stopping (runtime_options::stop_on_deadlock)"));
  }
}

inline void monitor_main(runtime_core* rt) noexcept {
  const std::int64_t quantum = std::chrono::duration_cast<std::chrono::nanoseconds>(rt->options.quantum).count();
  const bool preempting = rt->options.preempt != preempt_mode::none;
  std::int64_t tick = quantum / 4;
  if (tick < 25000) tick = 25000;
  // Under `none` the monitor only rescues stranded work and polls a busy
  // runtime's network: a millisecond is soon enough for both, and each look
  // wakes a thread that may displace a worker from its CPU.
  if (!preempting && tick < 1000000) tick = 1000000;
  if (tick > 10000000) tick = 10000000;
  // Every tick late (the kernel's default timer slack is 50 us) is that much
  // longer a slice may overrun its quantum.
  use_minimal_timer_slack();
  const bool full = rt->options.preempt == preempt_mode::full;
  int idle_ticks = 0;
  monitor_state& ms = rt->monitor;
  while (!ms.stop.load(std::memory_order_acquire)) {
    std::int64_t now = now_ns();
    bool any_running = false;
    bool stranded = false;
    for (auto& wp : rt->workers) {
      worker* w = wp.get();
      monitor_view& m = w->monitor;
      // Work sitting in a worker's runnext or ring, or in the global queue,
      // for two looks in a row: an idle worker should take it.
      bool queued = shared_work_waiting_for(w, rt);
      if (queued && m.queued) stranded = true;
      m.queued = queued;
      std::uint64_t slice = w->slice.load(std::memory_order_relaxed);
      if (!(slice & 1)) {  // in the scheduler loop: nothing to preempt
        m.slice = slice;
        continue;
      }
      any_running = true;
      if (slice != m.slice) {  // a new slice since the last look
        m.slice = slice;
        m.since = now;
        m.signalled_at = 0;
        m.stuck_cpu = -1;
        if (preempting) m.slice_cpu = m.cpu_at_look = thread_cpu_ns(w->os.cpu_clock), m.look = now;
        continue;
      }
      report_if_stuck(w, rt, now);
      if (!preempting || now - m.since < quantum || !work_waiting_for(w, rt, now)) continue;
      // A quantum is CPU time, as the kernel's scheduler counts it: a slice
      // whose worker the OS descheduled, or that slept in a system call, has
      // not used it up. (Counted in wall time, a fiber resumed on a worker
      // the OS then kept off the CPU could lose its slice at its first
      // preemption point without having run.) /2: the slice's start is seen
      // up to a tick late.
      std::int64_t cpu = thread_cpu_ns(w->os.cpu_clock);
      if (cpu - m.slice_cpu < quantum / 2) continue;
      // The flag's release store publishes resched_slice with it: a worker
      // that sees the flag (and fences acquire: preempt_schedule_impl) sees
      // which slice it is for.
      w->resched_slice.store(slice, std::memory_order_relaxed);
      w->cpu->need_resched.store(1, std::memory_order_release);
      // The slice may have ended meanwhile (its switch clears the flag): do
      // not shorten the next fiber's slice with a flag meant for this one.
      // (Until this store, that fiber may glimpse the flag: its preemption
      // point checks resched_slice and ignores it.)
      if (w->slice.load(std::memory_order_relaxed) != slice) {
        w->cpu->need_resched.store(0, std::memory_order_relaxed);
        continue;
      }
      if (!full || now - m.signalled_at < tick) continue;
      // Signal only a thread that is computing now: one blocked in the
      // kernel would only have its system call disturbed.
      bool using_cpu = cpu - m.cpu_at_look >= (now - m.look) / 8;
      m.cpu_at_look = cpu;
      m.look = now;
      if (!using_cpu || !thread_is_running(w->os.stat_fd)) continue;
      m.signalled_at = now;
      send_preempt_signal(rt, w, slice >> 1);
    }
    // Every worker busy: look at the network for them. Under `voluntary` and
    // `full`, within half a quantum: a request that arrives while the workers
    // compute is waiting work only once polled, and until then nothing is
    // preempted for it (10 ms here made its latency Go's, whose sysmon polls
    // as rarely). Under `none` nothing would be preempted anyway.
    netpoll_if_stale(rt, preempting && quantum / 2 < 10000000 ? quantum / 2 : 10000000);
    if (stranded && rt->sleepers.load(std::memory_order_relaxed) > 0 &&
        rt->spinning.load(std::memory_order_relaxed) == 0)
      wake_one_idle(rt);
    // With every worker idle for a while, sleep until one starts a fiber.
    idle_ticks = any_running ? 0 : idle_ticks + 1;
    if (idle_ticks > 4) {
      ms.word.store(0, std::memory_order_relaxed);
      // A handshake with a worker leaving its idle loop (it stores its odd
      // slice, then looks at `idle`: wake_monitor_if_idle): either we see it
      // running or it sees us idle and wakes us.
      ms.idle.store(true, std::memory_order_relaxed);
      store_load_barrier();
      bool running = false;
      for (auto& wp : rt->workers) running |= (wp->slice.load(std::memory_order_relaxed) & 1) != 0;
      if (!running && !ms.stop.load(std::memory_order_acquire)) futex_wait(&ms.word, 0);
      ms.idle.store(false, std::memory_order_relaxed);
      ms.word.store(0, std::memory_order_relaxed);  // consumed: the tick waits below must wait again
      idle_ticks = 0;
      continue;
    }
    futex_wait(&ms.word, 0, now_ns() + tick);
  }
}

}  // namespace jiffy::detail
