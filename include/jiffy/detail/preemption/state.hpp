// jiffy/detail/preemption/state.hpp — what the preemption monitor keeps:
// per runtime (monitor_state) and per worker (monitor_view).
//
// Rules:
//  * Owned by detail/preemption.hpp: only the monitor thread writes these,
//    except the wake-up handshake below, which any worker leaving its idle
//    loop performs.
//  * The monitor sleeps on `word` when every worker has been idle for a few
//    ticks. A worker that starts running a fiber must then wake it, or a
//    fiber could run forever unwatched: wake_monitor_if_idle() is that
//    worker's half of the handshake (the monitor's half is in
//    preemption/monitor.hpp: it sets `idle`, then reads every slice).
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/thread.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

// What the monitor last saw of one worker (monitor thread only).
struct monitor_view {
  bool queued = false;  // shared work was waiting at the last look (monitor_main: stranded)
  std::uint64_t slice = 0;
  std::int64_t since = 0, signalled_at = 0;
  std::int64_t sampled_cpu = 0, sampled_at = 0;  // the thread's CPU time at the last sample of it, and when
  std::int64_t looked = 0;                       // when the monitor last looked at it (any slice)
  // Slice-end lateness (monitor.hpp: learn_slice_end_lead): the limit of the
  // slice the monitor last ended (0: none since the slice it saw before),
  // and how much earlier than their limits it now asks slices to end.
  std::int64_t ending_limit = 0, end_lead = 0;
  std::int64_t slice_cpu = 0;                    // the thread's CPU time at the slice's switch, at most
  std::int64_t stuck_cpu = -1, stuck_since = 0;  // deadlock watch (report_if_stuck)
  bool stuck_reported = false;
  unsigned retries = 0;  // signals sent for the current request without effect (backoff)
  // Real-time throttling (preemption/rt_throttle.hpp).
  std::int64_t rt_used = 0, rt_period_start = 0, rt_cpu_last = -1;
};

// The monitor thread of one runtime.
struct monitor_state {
  thread_handle thread{};
  bool started = false;  // `thread` runs (set and read by the runtime's owner)
  std::atomic<bool> stop{false};
  std::atomic<bool> idle{false};       // asleep on `word` until a worker runs a fiber
  std::atomic<std::uint32_t> word{0};  // its futex word
  std::atomic<std::uint64_t> signals_sent{0};
  // When the monitor will next wake by itself (now_ns() time base): a thread
  // that needs it sooner (a wake-up preemption to retry, a timer armed
  // earlier) wakes it (nudge_monitor). Written by the monitor, read relaxed.
  std::atomic<std::int64_t> sleep_until{0};
  // Waiting in the netpoller rather than on `word` (every worker busy: the
  // monitor polls for them), so a nudge must interrupt the poll.
  std::atomic<bool> in_poll{false};
  // Counters for runtime_stats (relaxed; several threads add to the first).
  std::atomic<std::uint64_t> wakeup_preemptions{0}, wakeups{0}, rt_throttled{0};
  // The tick counter's rate as the monitor last measured it, and when
  // (monitor.hpp: monitor_ns_per_tick).
  double ns_per_tick = 0;
  std::int64_t rate_measured_at = 0;
};

// A worker leaving its idle loop to run a fiber, after storing its odd
// slice: the barrier pairs with the monitor's (it sets `idle`, then reads
// every slice), so either it sees our slice or we see it idle and wake it.
inline void wake_monitor_if_idle(monitor_state& m) noexcept {
  store_load_barrier();
  if (m.idle.load(std::memory_order_relaxed)) {
    m.word.store(1, std::memory_order_relaxed);
    futex_wake(&m.word);
  }
}

}  // namespace jiffy::detail
