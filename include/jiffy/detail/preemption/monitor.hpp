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
#include <jiffy/detail/platform/cycle_clock.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/preemption/handler.hpp>
#include <jiffy/detail/preemption/request.hpp>
#include <jiffy/detail/preemption/rt_throttle.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/time.hpp>

#include <algorithm>
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
  // The stuck fiber is not running, so its name does not change under us.
  describe_fiber(msg.text("jiffy:   "), w->running_fiber.load(std::memory_order_relaxed),
                 w->running_name.load(std::memory_order_relaxed));
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

// The longest a fair fiber of weight `weight` may run while others wait:
// the quantum scaled by its share (detail/sched_class.hpp, "Fair shares").
inline std::int64_t fair_slice_ns(std::int64_t quantum, std::uint32_t weight) noexcept {
  std::int64_t len = quantum * static_cast<std::int64_t>(weight) / 1024;
  return len < 50000 ? 50000 : len;
}

// Whether the fiber w runs (described by `running`) has something to make
// way for at the end of its slice, and how long that slice is (ns);
// 0: nothing to make way for.
inline std::int64_t slice_limit(const worker* w, const runtime_core* rt, std::uint64_t running, std::int64_t quantum,
                                std::int64_t now) noexcept {
  unsigned rank = running_rank(running);
  sched_policy policy = running_policy(running);
  unsigned rt_top = w->rt_throttled.load(std::memory_order_relaxed) ? 0 : rt->classes.top_rank();
  if (rank > rank_fair) {
    // fifo: no slice at all; rr: the quantum, if an equal priority waits.
    if (w->rt_throttled.load(std::memory_order_relaxed)) return quantum;
    return policy == sched_policy::rr && rt_top >= rank ? quantum : 0;
  }
  bool waiting = rt_top > 0 || work_waiting_for(w, rt, now);
  if (rank == rank_idle) return waiting || rt->classes.idle_waiting() ? quantum : 0;
  return waiting ? fair_slice_ns(quantum, running_weight(running)) : 0;
}

// The tick counter's rate, for timing slices from the workers' clock
// readings. Measured again at most once a second: a measurement reads a few
// clock pairs, and it only sharpens as the span since the runtime started
// grows. The first waits until that span is 0.2 ms: a rate off by a percent
// misplaces a slice's start by a percent of the time since its switch
// (microseconds).
inline double monitor_ns_per_tick(runtime_core* rt, std::int64_t now) noexcept {
  monitor_state& ms = rt->monitor;
  if (ms.ns_per_tick == 0 || now - ms.rate_measured_at >= 1'000'000'000) {
    ms.ns_per_tick = rt->clock_rate.ns_per_tick(200'000);
    ms.rate_measured_at = now;
  }
  return ms.ns_per_tick;
}

// When the slice the monitor has just seen on w began (monotonic ns): the
// worker's own clock reading at that switch, if it takes one; else now,
// which may be up to a look late, and every late-seen start lengthens the
// slice (at a 1 ms quantum, nice 0 against nice 5 got 2.49-2.60 of the
// worker's time instead of 3.06; 2.73-2.78 with this). The reading is kept
// between the monitor's previous look, which saw an older slice, and now:
// a reading from the switch before (the worker stores it after bumping
// `slice`) could otherwise end the slice early by far more than that.
inline std::int64_t slice_start_ns(runtime_core* rt, const worker* w, std::int64_t now) noexcept {
  if (!w->measuring_run_delay) return now;
  std::uint64_t ticks = cycle_clock_now() - w->switched_at.load(std::memory_order_relaxed);
  std::int64_t start = now - static_cast<std::int64_t>(double(ticks) * monitor_ns_per_tick(rt, now));
  return std::clamp(start, std::min(w->monitor.looked, now), now);
}

// A slice the monitor ends, ends late: the monitor wakes after the time it
// planned, the signal and the switch take their time (~80 us on this VM).
// Every slice gains that, which the shorter slice of a lower weight feels
// most. So the monitor asks slices to end earlier by a lead it learns per
// worker, as an integral controller: each slice it ended moves the lead by
// an eighth of how much that slice still overran its limit (`overrun`,
// from the slice's start to the next one's; negative if it ended early).
// Each step is clamped, so that one slice held back by a preempt_disable
// section or a descheduled thread does not throw it; the lead stays within
// [0, max_slice_end_lead_ns], and no slice is cut by more than half.
inline constexpr std::int64_t max_slice_end_lead_ns = 250000;

inline void learn_slice_end_lead(monitor_view& m, std::int64_t overrun) noexcept {
  std::int64_t step = overrun / 8;
  constexpr std::int64_t max_step = max_slice_end_lead_ns / 8;
  m.end_lead = std::clamp(m.end_lead + std::clamp(step, -max_step, max_step), std::int64_t{0}, max_slice_end_lead_ns);
}

// Sends the preemption signal to w for `slice` if its thread is computing
// right now (one blocked in the kernel would only have its system call
// disturbed). Returns whether it was sent.
inline bool signal_if_computing(runtime_core* rt, worker* w, std::uint64_t slice, std::int64_t now) noexcept {
  monitor_view& m = w->monitor;
  std::int64_t cpu = thread_cpu_ns(w->os.cpu_clock);
  bool using_cpu = cpu - m.sampled_cpu >= (now - m.sampled_at) / 8;
  m.sampled_cpu = cpu;
  m.sampled_at = now;
  if (!using_cpu || !thread_is_running(w->os.stat_fd)) return false;
  m.signalled_at = now;
  send_preempt_signal(rt, w, slice);
  return true;
}

// One look at a worker running `slice`. Returns when the monitor should
// look at it again.
inline std::int64_t look_at_running_worker(runtime_core* rt, worker* w, std::uint64_t slice, std::int64_t now,
                                           std::int64_t quantum, std::int64_t tick) noexcept {
  monitor_view& m = w->monitor;
  preempt_mode mode = rt->mode.load(std::memory_order_relaxed);
  bool preempting = mode != preempt_mode::none;
  bool signalling = signals_preempt(mode);
  std::int64_t next = no_deadline_ns;
  auto plan = [&next](std::int64_t t) {
    if (t < next) next = t;
  };
  // A busy worker's timers fire on time from here, not when it next picks
  // (the kernel's hrtimers): the woken fibers are queued, and a worker is
  // preempted for them if they outrank what it runs (make_runnable).
  // (Under `none` nothing would be preempted for them: the worker fires
  // them itself at its next switch.)
  if (preempting) {
    if (w->timers.earliest() <= now) run_timers(w, now);
    plan(w->timers.earliest());
  }
  if (slice != m.slice) {  // a new slice since the last look
    m.slice = slice;
    std::int64_t start = slice_start_ns(rt, w, now);
    if (m.ending_limit) learn_slice_end_lead(m, start - m.since - m.ending_limit);
    m.ending_limit = 0;
    m.since = start;
    m.signalled_at = 0;
    m.retries = 0;
    m.stuck_cpu = -1;
    if (preempting) {
      // Its CPU time at the switch, at most: no more than now, nor than at
      // the previous sample plus all the wall time from there to the
      // switch. An over-estimate only lets the slice run longer; an
      // under-estimate (say, taking the thread to have run since the
      // switch) would count time the OS kept it off the CPU as the slice's
      // and cut a fiber that has not run at all.
      std::int64_t cpu = thread_cpu_ns(w->os.cpu_clock);
      std::int64_t bound = m.sampled_at ? m.sampled_cpu + std::max(start - m.sampled_at, std::int64_t{0}) : cpu;
      m.slice_cpu = std::min(cpu, bound);
      m.sampled_cpu = cpu;
      m.sampled_at = now;
    }
  } else {
    report_if_stuck(w, rt, now);
  }
  if (!preempting) return next;
  // A request (a wake-up preemption, or ours) not yet acted on: the signal
  // was deferred (libc, the vDSO, a preempt_disable section) or never sent.
  // Retry soon, backing off: 50 us, 100 us, ... up to a tick.
  bool requested =
      w->cpu->need_resched.load(std::memory_order_relaxed) && w->resched_slice.load(std::memory_order_relaxed) == slice;
  if (requested && signalling) {
    std::int64_t backoff = resched_retry_ns << (m.retries < 8 ? m.retries : 8);
    if (backoff > tick) backoff = tick;
    std::int64_t by_waker = w->resched_signalled_at.load(std::memory_order_relaxed);
    if (by_waker > m.signalled_at) m.signalled_at = by_waker;
    if (now - m.signalled_at >= backoff) {
      if (m.signalled_at) ++m.retries;
      (void)signal_if_computing(rt, w, slice, now);
      plan(now + backoff);
    } else {
      plan(m.signalled_at + backoff);
    }
    return next;
  }
  std::uint64_t running = w->running_sched.load(std::memory_order_relaxed);
  // A real-time fiber waits that outranks what runs: a wake-up preemption
  // whose request missed its slice (the worker switched in between).
  if (!w->rt_throttled.load(std::memory_order_relaxed) && rt->classes.top_rank() > running_rank(running)) {
    if (request_wakeup_preemption(rt, w, slice)) plan(now + resched_retry_ns);
    return next;
  }
  std::int64_t limit = slice_limit(w, rt, running, quantum, now);
  if (limit == 0) return next;  // nothing to make way for: the next arrival nudges us
  // Ask it to end a lead early (learn_slice_end_lead).
  std::int64_t due = limit - std::min(m.end_lead, limit / 2);
  if (now - m.since < due) {
    plan(m.since + due);
    return next;
  }
  // A slice is CPU time, as the kernel's scheduler counts it: a slice whose
  // worker the OS descheduled, or that slept in a system call, has not used
  // it up. (Counted in wall time, a fiber resumed on a worker the OS then
  // kept off the CPU could lose its slice at its first preemption point
  // without having run.) /2: the thread may not have run all the time
  // between the switch and the monitor's first look at the slice.
  std::int64_t cpu = thread_cpu_ns(w->os.cpu_clock);
  if (cpu - m.slice_cpu < due / 2) {
    plan(now + (limit / 4 > 25000 ? limit / 4 : 25000));
    return next;
  }
  if (!raise_need_resched(w, slice)) return next;  // it switched meanwhile
  m.ending_limit = limit;
  if (signalling && signal_if_computing(rt, w, slice, now))
    plan(now + resched_retry_ns);
  else
    plan(now + tick);
  return next;
}

// How early the monitor wakes for a busy worker's timer, to spin the rest
// of the way to it. The lead must cover the monitor's own wake-up latency,
// and that is not one figure: a futex wake-up on a VM usually takes ~30 us
// (cyclictest's SCHED_OTHER p50 here), but a vCPU that slept longer (the
// monitor of a runtime with a 10 ms quantum sleeps from timer to timer)
// comes back later. So the lead follows what the monitor measures of its
// own timed wake-ups: a decaying maximum of how late they were, plus a
// margin, within [min_ns, max_ns]. The maximum (not a mean) because the
// sleeper's p99 is what a late wake-up spoils; decaying (1/16 per wake-up)
// so that one stall of the host does not keep the monitor spinning the
// longest lead for long: every spin costs the other fibers' CPU.
class timer_lead {
 public:
  static constexpr std::int64_t min_ns = 40000;
  static constexpr std::int64_t max_ns = 250000;
  static constexpr std::int64_t margin_ns = 15000;

  std::int64_t ns() const noexcept {
    std::int64_t lead = late_ns_ + margin_ns;
    return lead < min_ns ? min_ns : lead > max_ns ? max_ns : lead;
  }
  // A timed sleep meant to end at `deadline` ended at `woke`: learn from it
  // (a wake-up before the deadline was a nudge or readiness, not a timeout).
  void observe(std::int64_t deadline, std::int64_t woke) noexcept {
    std::int64_t late = woke - deadline;
    if (late < 0) return;
    late_ns_ -= late_ns_ / 16;
    if (late > late_ns_) late_ns_ = late < max_ns ? late : max_ns;
  }

 private:
  std::int64_t late_ns_ = 0;  // the decaying maximum of recent lateness
};

// The netpoller wait: `no_poll` = none, sleep on the futex instead.
inline constexpr std::int64_t no_poll = -1;

// How long the monitor may wait in the netpoller on its way to `deadline`.
// Where the poll keeps a deadline to the nanosecond (epoll_pwait2), all the
// way. Where it rounds up to a millisecond (kernels before 5.11, qemu-user),
// only the whole milliseconds short of it, less a margin for the rounding
// and the timer slack, so it never wakes late; the rest, under a
// millisecond, is slept on the futex, and the next look polls again.
inline std::int64_t poll_deadline_for(runtime_core* rt, std::int64_t deadline) noexcept {
  if (rt->poller.os.precise_timeouts() || deadline == no_deadline_ns) return deadline;
  constexpr std::int64_t ms = 1000000, margin = 200000;
  std::int64_t now = now_ns();
  std::int64_t whole_ms = (deadline - now - margin) / ms;
  return whole_ms >= 1 ? now + whole_ms * ms : no_poll;
}

inline void monitor_main(runtime_core* rt) noexcept {
  const std::int64_t quantum = std::chrono::duration_cast<std::chrono::nanoseconds>(rt->options.quantum).count();
  std::int64_t tick = quantum / 4;
  if (tick < 25000) tick = 25000;
  if (tick > 10000000) tick = 10000000;
  // The longest the monitor sleeps while fibers run and nothing is due: it
  // still looks for stuck workers and a busy runtime's network.
  const std::int64_t backstop = quantum > 10000000 ? quantum : 10000000;
  const rt_budget budget = rt_budget::of(rt->options);
  // Every microsecond late (the kernel's default timer slack is 50 us) is
  // that much later a preemption or a timer.
  use_minimal_timer_slack();
  int idle_looks = 0;
  timer_lead lead;
  monitor_state& ms = rt->monitor;
  while (!ms.stop.load(std::memory_order_acquire)) {
    // Until we sleep again, any nudge must wake us (nudge_monitor): "now"
    // is sooner than anything a nudger asks for.
    ms.word.store(0, std::memory_order_relaxed);
    ms.sleep_until.store(no_deadline_ns, std::memory_order_relaxed);
    store_load_barrier();
    ms.wakeups.fetch_add(1, std::memory_order_relaxed);
    std::int64_t now = now_ns();
    std::int64_t next = now + backstop;
    bool any_running = false;
    bool stranded = false;
    bool all_busy = true;
    bool throttling = false;
    std::int64_t timer_due = no_deadline_ns;  // the earliest timer of any worker
    const bool firing_timers = rt->mode.load(std::memory_order_relaxed) != preempt_mode::none;
    for (auto& wp : rt->workers) {
      worker* w = wp.get();
      monitor_view& m = w->monitor;
      // Work sitting in a worker's runnext or ring, or in the global queue,
      // for two looks in a row while a worker idles: wake that one for it.
      bool queued = shared_work_waiting_for(w, rt);
      if (queued && m.queued) stranded = true;
      m.queued = queued;
      if (queued && idle_worker_available(rt) && now + tick < next) next = now + tick;
      std::uint64_t slice = w->slice.load(std::memory_order_relaxed);
      bool others_wait = queued || home_work_waiting_for(w, now) || rt->classes.idle_waiting();
      std::int64_t t = account_rt_time(rt, w, budget, now, others_wait);
      if (t != no_deadline_ns) throttling = true;  // a period end to watch for, even with every worker idle
      if (t < next) next = t;
      // Every worker's earliest timer: a busy one's the monitor fires; an
      // idle one fires its own, but it may be running a fiber by then.
      if (firing_timers && w->timers.earliest() < timer_due) timer_due = w->timers.earliest();
      if (!(slice & 1)) {  // in the scheduler loop: nothing to preempt
        m.slice = slice;
        m.looked = now;
        all_busy = false;
        continue;
      }
      any_running = true;
      t = look_at_running_worker(rt, w, slice, now, quantum, tick);
      m.looked = now;
      if (t < next) next = t;
    }
    if (timer_due < next) next = timer_due;
    // Stacks a burst left unused give their pages back by age
    // (detail/stack.hpp): here, off every fiber's path.
    std::int64_t decay_due = rt->stacks.decay(now);
    if (decay_due < next) next = decay_due;
    // Every worker busy: the monitor waits in the netpoller for them (below),
    // so readiness makes its fiber runnable at once — and preempts a worker
    // for it if it outranks what runs — rather than at some worker's next
    // switch.
    bool poll_here = all_busy && rt->poller.os.is_open();
    if (stranded && rt->sleepers.load(std::memory_order_relaxed) > 0 &&
        rt->spinning.load(std::memory_order_relaxed) == 0)
      wake_one_idle(rt);
    // With every worker idle for a few looks, sleep until one starts a fiber.
    idle_looks = any_running ? 0 : idle_looks + 1;
    if (idle_looks > 4 && !throttling) {
      // A handshake with a worker leaving its idle loop (it stores its odd
      // slice, then looks at `idle`: wake_monitor_if_idle): either we see it
      // running or it sees us idle and wakes us.
      ms.idle.store(true, std::memory_order_relaxed);
      store_load_barrier();
      bool running = false;
      for (auto& wp : rt->workers) running |= (wp->slice.load(std::memory_order_relaxed) & 1) != 0;
      // (Until the next stack decay, if any: idle is when a burst's stacks
      // should go back.)
      if (!running && !ms.stop.load(std::memory_order_acquire))
        futex_wait(&ms.word, 0, decay_due == no_deadline_ns ? -1 : decay_due);
      ms.idle.store(false, std::memory_order_relaxed);
      idle_looks = 0;
      continue;
    }
    if (!any_running && now + tick < next) next = now + tick;
    // A timer is the one deadline the monitor must meet to the microsecond
    // (the sleeper's lateness is the monitor's): wake a lead early, past
    // the monitor's own wake-up latency (timer_lead), and spin to it.
    std::int64_t spin_until = 0;
    if (next == timer_due && next - now > lead.ns()) {
      spin_until = next;
      next -= lead.ns();
    }
    ms.sleep_until.store(next, std::memory_order_relaxed);
    store_load_barrier();  // pairs with nudge_monitor's: we see its word, or it sees our deadline
    std::int64_t poll_until = poll_here ? poll_deadline_for(rt, next) : no_poll;
    if (poll_until == no_poll && poll_here) netpoll_if_stale(rt, quantum / 2 < 10000000 ? quantum / 2 : 10000000);
    if (poll_until != no_poll && netpoll_claim_for_look(rt)) {
      // A handshake with nudge_monitor: it stores `word`, then looks at
      // in_poll; we store in_poll, then look at `word`.
      ms.in_poll.store(true, std::memory_order_relaxed);
      store_load_barrier();
      if (ms.word.load(std::memory_order_relaxed) == 0 && poll_until > now_ns()) netpoll_poll(rt, poll_until);
      ms.in_poll.store(false, std::memory_order_relaxed);
      netpoll_release_after_look(rt);
    } else if (next > now_ns()) {
      futex_wait(&ms.word, 0, next);
    }
    if (spin_until) lead.observe(next, now_ns());
    while (spin_until && now_ns() < spin_until && ms.word.load(std::memory_order_relaxed) == 0) cpu_relax();
  }
}

}  // namespace jiffy::detail
