// jiffy/trace.hpp — what the scheduler tells a tracer (runtime_options::trace),
// and the built-in recorder's switch (runtime_options::trace_file,
// JIFFY_TRACE).
//
// Rules for a hook (every one of them):
//  * It runs inside the scheduler, on the thread where the event happened,
//    with the runtime's part of the preempt count raised: it must not call
//    into jiffy (spawn, yield, sleep, a jiffy::mutex...), block or throw.
//  * on_switch_out with reason `preempted` (or `wakeup_preempted` by signal)
//    and on_preempt_deferred run inside the preemption signal handler. A
//    preempted fiber was stopped only where jiffy judged a switch safe (not
//    inside libc), but a deferral may interrupt anything, another hook of
//    the same worker included: on_preempt_deferred must be
//    async-signal-safe.
//  * Names are valid only during the call: copy what you keep.
//  * Per worker, events arrive in the order they happened: a fiber's
//    on_switch_in, then (after any number of on_wake/on_spawn it causes) its
//    on_switch_out; on_finish before the on_switch_out with reason
//    `finished`; on_worker_sleep before on_worker_wake. Across workers, order
//    by time_ns (one clock, steady_clock's nanoseconds).
//  * Unset hooks cost one predictable branch per event.
//
// Mapping onto a profiler without jiffy depending on it: on_switch_in is
// Tracy's TracyFiberEnter(name) or a Perfetto track-event slice begun on the
// worker's track; on_switch_out is TracyFiberLeave or the slice's end; on_wake
// is a flow (Perfetto's flow ids, Tracy's zone links) from the waker (`other`)
// to the fiber. README "Seeing inside" has a worked example.
#pragma once

#include <jiffy/sched.hpp>

#include <cstdint>

namespace jiffy {

// Why a fiber left its worker.
enum class switch_reason : std::uint8_t {
  yield,             // this_fiber::yield()
  park,              // it waits: a lock, condition, join, sleep, I/O, wait_group...
  preempted,         // the preemption signal switched it out (its quantum ran out)
  rescheduled,       // a preemption point found need_resched set (quantum, voluntary mode)
  wakeup_preempted,  // a more urgent fiber woke and this worker was asked to make way for it
  finished,          // its function returned
};

constexpr const char* switch_reason_name(switch_reason r) noexcept {
  switch (r) {
    case switch_reason::yield: return "yield";
    case switch_reason::park: return "park";
    case switch_reason::preempted: return "preempted";
    case switch_reason::rescheduled: return "rescheduled";
    case switch_reason::wakeup_preempted: return "wakeup_preempted";
    case switch_reason::finished: return "finished";
  }
  return "(not a switch_reason)";
}

// A fiber as a hook sees it.
struct trace_fiber {
  std::uint64_t id = 0;        // 0: no fiber (the event is a worker's, or the waker a plain thread)
  const char* name = nullptr;  // its own name; nullptr if it has none ("fiber-<id>")
  sched_policy policy = sched_policy::normal;
  int priority = 0;  // fifo/rr priority, else 0
};

struct trace_event {
  std::int64_t time_ns = 0;  // steady_clock, nanoseconds since its epoch
  // The worker it happened on (0 .. workers()-1), workers() for the thread
  // in runtime::serve_main, -1 for a thread outside the runtime.
  int worker = -1;
  trace_fiber fiber;  // the fiber spawned, switched, woken, finished or interrupted
  // on_spawn: the spawner's id; on_wake: the waker's (0: a plain thread, a
  // timer or the poller); on_wakeup_preempt: the worker asked to switch.
  std::uint64_t other = 0;
  switch_reason reason = switch_reason::yield;  // on_switch_out only
};

using trace_hook = void (*)(void* context, const trace_event& e);

struct trace_hooks {
  void* context = nullptr;  // passed to every hook
  trace_hook on_spawn = nullptr;
  trace_hook on_switch_in = nullptr;
  trace_hook on_switch_out = nullptr;
  trace_hook on_wake = nullptr;
  trace_hook on_finish = nullptr;
  trace_hook on_worker_sleep = nullptr;      // an idle worker's thread goes to sleep (fiber.id 0)
  trace_hook on_worker_wake = nullptr;       // ...and wakes
  trace_hook on_preempt_deferred = nullptr;  // a preemption signal found an unsafe point (in the handler)
  trace_hook on_wakeup_preempt = nullptr;    // `fiber` woke and worker `other` was asked to make way

  [[nodiscard]] bool any() const noexcept {
    return on_spawn || on_switch_in || on_switch_out || on_wake || on_finish || on_worker_sleep || on_worker_wake ||
           on_preempt_deferred || on_wakeup_preempt;
  }
};

}  // namespace jiffy
