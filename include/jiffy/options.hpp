// jiffy/options.hpp — what a runtime is configured with and what it reports.
//
// Rules:
//  * runtime_options is an aggregate, so designated initialisers work:
//      jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::none});
//  * Every field has a default that suits a general-purpose program.
#pragma once

#include <jiffy/allocator.hpp>
#include <jiffy/sched.hpp>
#include <jiffy/trace.hpp>
#include <jiffy/detail/config.hpp>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>

namespace jiffy {

// The kernel's Kconfig preemption models (PREEMPT_NONE, PREEMPT_VOLUNTARY,
// PREEMPT, PREEMPT_LAZY). Each may be chosen at run time too
// (runtime::set_preempt_mode, the kernel's PREEMPT_DYNAMIC).
enum class preempt_mode {
  none,       // a fiber leaves the CPU only when it yields or blocks
  voluntary,  // ...or at a preemption point once it has used its quantum or a more urgent fiber woke
  full,       // ...or asynchronously, by signal, at an async-safe point
  lazy,       // full, except that a fair fiber waking waits for the running fair fiber's quantum
};

// The mode's name: "none", "voluntary", "full", "lazy".
constexpr const char* preempt_mode_name(preempt_mode m) noexcept {
  switch (m) {
    case preempt_mode::none: return "none";
    case preempt_mode::voluntary: return "voluntary";
    case preempt_mode::full: return "full";
    case preempt_mode::lazy: return "lazy";
  }
  return "(not a preempt_mode)";
}

struct runtime_options {
  unsigned workers = 0;  // 0: one per hardware thread
  preempt_mode preempt = preempt_mode::full;
  std::chrono::microseconds quantum{1000};  // time slice before need_resched() is set
  std::size_t stack_size = 128 * 1024;      // usable bytes per fiber stack (rounded up to pages, min 16 KiB)
  int preempt_signal = SIGURG;              // the signal `full` preemption uses (see README)
  // A worker blocked in a futex wait (a lock, condition variable or guard)
  // for over a second while fibers wait to run on it is reported as a likely
  // deadlock. true: the process then stops (abort) with that report instead
  // of hanging. Default: on when debug checks are (JIFFY_DEBUG, or no NDEBUG).
  bool stop_on_deadlock = detail::debug_checks;
  // Real-time (fifo, rr) fibers may use at most rt_runtime of every rt_period
  // on a worker (the kernel's sched_rt_runtime_us / sched_rt_period_us), so a
  // runaway fifo loop cannot starve everything else there. rt_runtime 0:
  // no throttling.
  std::chrono::microseconds rt_runtime{950000};
  std::chrono::microseconds rt_period{1000000};
  // The monitor is jiffy's timer interrupt: it sends the preemption signals
  // and fires due timers while every worker computes. As an ordinary thread
  // beside busy workers the kernel may run it a millisecond or more late, and
  // every wake-up it serves with it. 1-99: it runs SCHED_FIFO at that
  // priority, ahead of every ordinary thread (as cyclictest does; needs
  // CAP_SYS_NICE or RLIMIT_RTPRIO; refused, it stays ordinary, says so once
  // on stderr, and options() reports 0). It sleeps between deadlines and
  // spins at most a few tens of microseconds before one. 0: ordinary.
  int monitor_priority = 0;
  // Measure run delay, how long fibers wait runnable before they run, per
  // scheduling class (runtime_stats::run_delay): a tick-counter read per
  // switch and per wake-up, 3-5 ns a switch on x86-64 (docs/benchmarks.md).
  // false: not measured (run_delay reports no runs), like the kernel's
  // kernel.sched_schedstats=0.
  bool measure_run_delay = true;
  // Heap memory for the runtime (see allocator_hooks). Default: operator new.
  allocator_hooks allocator{};
  // Callbacks at scheduling events: spawn, switch in/out with the reason,
  // wake, finish, worker sleep/wake, deferred and wake-up preemptions
  // (jiffy/trace.hpp). Default: none, at one branch per event.
  trace_hooks trace{};
  // The built-in recorder: when the runtime ends it writes a Chrome
  // trace-event JSON file (Perfetto's UI, chrome://tracing) here: a track
  // per worker, a slice per fiber run, instants for preemptions, flows from
  // waker to woken. nullptr: the environment variable JIFFY_TRACE names
  // the file, if it is set; "": no file, whatever the environment says.
  // The process's second recording runtime writes <stem>.2<extension>
  // (trace.2.json), the third .3, and so on.
  const char* trace_file = nullptr;
  // Events the recorder keeps per worker (64 bytes each; rounded up to a
  // power of two): a ring, so a long run keeps its latest events and the
  // file says how many older ones were dropped.
  std::size_t trace_buffer_events = std::size_t{1} << 16;
};

// How long the fibers of one scheduling class waited runnable before they
// ran — from being spawned, woken, or switched out still runnable (a yield,
// a preemption) to running: the kernel's schedstat run_delay. Always kept
// (a clock read per switch and a fixed histogram per worker). Percentiles
// come from 8 buckets per power of two, so each is at most 1/8 over the
// true value and never under; `runs`, `mean_ns` and `max_ns` are exact.
struct run_delay_stats {
  std::uint64_t runs = 0;  // fiber runs measured (switches to a fiber of this class)
  std::uint64_t mean_ns = 0;
  std::uint64_t p50_ns = 0;
  std::uint64_t p90_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t p999_ns = 0;
  std::uint64_t max_ns = 0;
};

// Counters since the runtime started, or since runtime::reset_stats(). Each
// is summed over workers; a snapshot taken while fibers run is approximate.
struct runtime_stats {
  std::uint64_t fibers_spawned = 0;
  std::uint64_t fibers_finished = 0;
  std::uint64_t context_switches = 0;       // every fiber switch, voluntary or not
  std::uint64_t yields = 0;                 // this_fiber::yield() calls that switched
  std::uint64_t parks = 0;                  // blocking waits (mutex, condition, join, sleep, ...)
  std::uint64_t steals = 0;                 // successful work-stealing raids
  std::uint64_t worker_sleeps = 0;          // times an idle worker parked its thread
  std::uint64_t preemptions = 0;            // involuntary switches forced by the preemption signal
  std::uint64_t voluntary_reschedules = 0;  // switches at a preemption point because need_resched() was set
  std::uint64_t deferred_preemptions = 0;   // preemption signals that found preempt_count > 0 or an unsafe point
  std::uint64_t signals_sent = 0;           // preemption signals sent to workers
  std::uint64_t wakeup_preemptions = 0;     // workers asked to switch because a more urgent fiber became runnable
  std::uint64_t pi_boosts = 0;              // mutex holders raised to a waiter's priority (priority inheritance)
  std::uint64_t rt_throttled = 0;           // times a worker's real-time fibers used up rt_runtime and were held back
  std::uint64_t monitor_wakeups = 0;        // times the monitor thread woke (it sleeps until something is due)
  // Fiber stacks of every size (a snapshot, not a counter: reset_stats leaves it): mapped so far, and of them
  // pooled with their pages still resident, waiting for reuse or for their
  // pages to go back after a second unused.
  std::uint64_t stacks_mapped = 0;
  std::uint64_t stacks_pooled_resident = 0;
  // Run delay per scheduling class, indexed by sched_policy (or use run_delay_of).
  run_delay_stats run_delay[sched_policy_count] = {};

  const run_delay_stats& run_delay_of(sched_policy p) const noexcept { return run_delay[static_cast<unsigned>(p)]; }
};

}  // namespace jiffy
