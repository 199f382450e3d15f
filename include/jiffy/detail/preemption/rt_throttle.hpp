// jiffy/detail/preemption/rt_throttle.hpp — real-time throttling: at most
// rt_runtime of every rt_period for a worker's fifo and rr fibers.
//
// Rules:
//  * The monitor does the accounting, from the worker thread's CPU clock,
//    at each of its looks: CPU time between two looks that both saw a
//    real-time fiber running is charged to the period. (Short real-time
//    runs between looks go uncounted: throttling is a safety net against a
//    runaway loop, the kernel's own purpose for it, not a budget to the
//    microsecond.)
//  * When the budget is used up the worker is marked throttled and asked to
//    switch; while throttled it picks no real-time fiber
//    (detail/pick.hpp) and a running one gives way to any fiber
//    (preemption_min_rank). The mark is lifted when the period ends, and the
//    worker is asked to switch back if real-time work waits.
//  * Only the monitor writes the mark and the accounting.
#pragma once

#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/preemption/request.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sched_class.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace jiffy::detail {

struct rt_budget {
  std::int64_t runtime = 0, period = 0;  // ns; runtime 0: no throttling
  static rt_budget of(const runtime_options& o) noexcept {
    using namespace std::chrono;
    rt_budget b{duration_cast<nanoseconds>(o.rt_runtime).count(), duration_cast<nanoseconds>(o.rt_period).count()};
    if (b.runtime >= b.period) b.runtime = 0;  // the whole period: nothing to throttle
    return b;
  }
};

// Accounts w's real-time CPU time and throttles or unthrottles it. Returns
// when the monitor should look again for this purpose (no_deadline_ns: no
// need).
// `others_wait`: other fibers wait for this worker (else a throttled
// real-time fiber runs on: there is nobody to give the worker to).
inline std::int64_t account_rt_time(runtime_core* rt, worker* w, const rt_budget& b, std::int64_t now,
                                    bool others_wait) noexcept {
  if (b.runtime == 0) return no_deadline_ns;
  monitor_view& m = w->monitor;
  std::uint64_t slice = w->slice.load(std::memory_order_relaxed);
  bool rt_running = (slice & 1) && running_rank(w->running_sched.load(std::memory_order_relaxed)) > rank_fair;
  if (now - m.rt_period_start >= b.period) {
    m.rt_period_start = now;
    m.rt_used = 0;
    if (w->rt_throttled.load(std::memory_order_relaxed)) {
      w->rt_throttled.store(false, std::memory_order_relaxed);
      // Real-time work held back meanwhile runs again now: an idle worker
      // is woken for it, a busy one asked to switch.
      if (!(slice & 1))
        wake_worker(rt, w);
      else if (rt->classes.top_rank() > running_rank(w->running_sched.load(std::memory_order_relaxed)))
        (void)request_wakeup_preemption(rt, w, slice);
    }
  }
  if (!rt_running) {
    m.rt_cpu_last = -1;
    return w->rt_throttled.load(std::memory_order_relaxed) ? m.rt_period_start + b.period : no_deadline_ns;
  }
  std::int64_t cpu = thread_cpu_ns(w->os.cpu_clock);
  if (m.rt_cpu_last >= 0) m.rt_used += cpu - m.rt_cpu_last;
  m.rt_cpu_last = cpu;
  if (m.rt_used < b.runtime) return now + (b.runtime - m.rt_used);
  if (!w->rt_throttled.load(std::memory_order_relaxed)) {
    w->rt_throttled.store(true, std::memory_order_relaxed);
    rt->monitor.rt_throttled.fetch_add(1, std::memory_order_relaxed);
  }
  if (!others_wait) return now + resched_retry_ns * 20;
  // Ask again at every look until the real-time fiber is off the worker.
  (void)raise_need_resched(w, slice);
  if (signals_preempt(rt->mode.load(std::memory_order_relaxed)) && now - m.signalled_at >= resched_retry_ns) {
    m.signalled_at = now;
    send_preempt_signal(rt, w, slice);
  }
  std::int64_t end = m.rt_period_start + b.period;
  return now + resched_retry_ns < end ? now + resched_retry_ns : end;
}

}  // namespace jiffy::detail
