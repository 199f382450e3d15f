// jiffy/detail/preemption.hpp — preemption of running fibers: the design,
// option checks, and starting and stopping it. The parts are in
// detail/preemption/: state.hpp (what the monitor keeps), monitor.hpp (the
// thread that decides), handler.hpp (the signal), voluntary.hpp (the
// preemption points).
//
// The rules of this file, before the code.
//
// Who decides.  Each runtime has one monitor thread (Go's sysmon), not a
// POSIX timer per worker: arming a timer at every switch would cost a system
// call per switch; a thread-CPU-time timer fires only at the kernel's tick
// (4 ms at HZ=250, too coarse for a 1 ms quantum); and a CLOCK_MONOTONIC
// timer aimed at the worker costs it 15-25 us per expiry on a VM (a timer
// interrupt), against 7-10 us for a tgkill from another CPU
// (bench/signal_cost). Every worker publishes a slice number that changes
// at each switch, with its low bit telling whether a fiber is running, and
// the rank of what it runs. The monitor remembers when it first saw each
// slice. It does not tick: each look computes when something can next be
// due (a slice ending with work waiting, a busy worker's timer, a retry, a
// throttling period's end) and it sleeps until then, or 10 ms at most
// (preemption/monitor.hpp).
//
// Who is preempted.  A worker whose fiber has used up its slice (the
// quantum, scaled by weight for fair fibers: detail/sched_class.hpp) while
// other work waits for that worker: work only it may run (fibers it
// preempted, pinned fibers, due timers) or shared work (its runnext and
// ring, the global queue) that no idle worker can take instead — an idle
// worker is woken for that. And a worker running something that a fiber
// just made runnable outranks (wake-up preemption, preemption/request.hpp).
// An idle worker, a worker whose fibers switch faster than the quantum, and
// a fiber alone with nothing else to run are left alone: no flag, no signal.
//
// How.  need_resched is raised for the running slice. Under `voluntary`
// that is all: the fiber switches at its next preemption point —
// cond_resched(), the preempt_enable() that brings its count to 0,
// preempt_check_resched(), a yield or a blocking call. Under `full` and
// `lazy` the worker's thread is also sent a signal (SIGURG by default); the
// monitor sends it only if the slice has consumed its quantum in CPU time
// and the thread is computing right now (CPU time advancing, and 'R' in
// /proc): a thread blocked in the kernel (poll, epoll_wait, nanosleep, a
// read) is not signalled, so its system call is not interrupted. A request
// not acted on (the signal was deferred) is retried after 50 us, doubling
// up to a quarter quantum. One race remains, as in every signal-preempting
// runtime: a thread signalled while computing may enter a system call in
// the microseconds before the signal lands; restartable calls then resume
// (SA_RESTART), while nanosleep, poll and epoll_wait report EINTR, as they
// do for any signal.
//
// The handler, on the interrupted fiber's own stack.  It preempts only when
// all of these hold, and otherwise leaves need_resched set (a deferred
// preemption, counted) for the next preemption point or the next signal:
//   * the signal is jiffy's (SI_QUEUE from this process, tagged with the
//     slice it was aimed at) and that slice is still running — anything else
//     goes to the handler installed before jiffy's (checked again at every
//     runtime start, so a program handler installed in between is chained
//     too);
//   * preempt_count() is 0: no preempt_disable(), no jiffy spinlock, no
//     runtime code (the runtime raises the count whenever it touches shared
//     state, which is also why the handler may use the scheduler's queues);
//   * the interrupted instruction is at an async-safe point
//     (detail/safe_points.hpp: by default, the main executable's code only);
//   * the stack has room for the switch below the signal frame.
// It then switches to the next fiber right there. The fiber's complete state
// — general registers, flags, x87/SSE/AVX/AVX-512 registers, MXCSR and the
// x87 control word — is in the signal frame the kernel pushed below the
// interrupted code's red zone, and comes back when the handler returns.
// Why switch inside the handler rather than redirect the interrupted PC to a
// trampoline and return (Go's way): the kernel has already saved everything,
// in a format that follows new CPU features; a trampoline would have to
// re-save it with XSAVE, keep the red zone and alignment right, and carry
// unwind info, for the same single sigreturn per preemption.
//
// Where it resumes.  Compiled code may hold a thread_local's address (or
// errno's) in a register at any instruction, so a fiber preempted
// asynchronously resumes on the same worker: it is queued on the worker's
// private queue, never stolen. It may migrate again after its next voluntary
// switch.
//
// The signal mask.  The handler runs with the preemption signal blocked; it
// unblocks it (once the count is raised) before switching, or the next fiber
// would run unpreemptible. Returning from the handler restores the
// interrupted fiber's own mask.
//
// Sanitizers.  ThreadSanitizer delivers signals only at synchronisation
// points and intercepted calls, so a loop with neither is not preempted
// there; the voluntary path works as everywhere.
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/preemption/handler.hpp>
#include <jiffy/detail/preemption/monitor.hpp>
#include <jiffy/detail/preemption/state.hpp>
#include <jiffy/detail/preemption/voluntary.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/safe_points.hpp>
#include <jiffy/options.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <thread>

namespace jiffy::detail {

// The options preemption depends on, checked before anything starts.
inline void validate_preemption_options(const runtime_options& o) {
  using namespace std::chrono;
  if (static_cast<unsigned>(o.preempt) > static_cast<unsigned>(preempt_mode::lazy)) {
    message m;
    fatal(m.text("jiffy: preempt_mode value ").number(static_cast<unsigned>(o.preempt)).text(" is not a preempt_mode"));
  }
  if (o.monitor_priority < 0 || o.monitor_priority > 99) {
    message m;
    fatal(m.text("jiffy: runtime_options::monitor_priority must be 0 (an ordinary thread) or 1-99 (SCHED_FIFO), got ")
              .signed_number(o.monitor_priority));
  }
  if (o.rt_runtime.count() < 0 || o.rt_period.count() <= 0) {
    message m;
    fatal(m.text("jiffy: runtime_options::rt_runtime must be >= 0 and rt_period > 0 (got ")
              .signed_number(o.rt_runtime.count())
              .text(" us per ")
              .signed_number(o.rt_period.count())
              .text(" us)"));
  }
  if (o.preempt != preempt_mode::none && o.quantum < microseconds(50)) {
    message m;
    fatal(
        m.text("jiffy: runtime_options::quantum must be at least 50 us (got ").number(o.quantum.count()).text(" us)"));
  }
  // A preemption signal frame (several KiB with AVX-512 state) lands on the
  // fiber's stack, and the switch runs below it.
  std::size_t need = preemptible_stack_minimum();
  if (signals_preempt(o.preempt) && o.stack_size < need) {
    message m;
    fatal(m.text("jiffy: runtime_options::stack_size too small for preemption: need at least ")
              .number(need)
              .text(" bytes (twice AT_MINSIGSTKSZ plus the switch), got ")
              .number(o.stack_size));
  }
}

inline void start_preemption(runtime_core* rt) {
  // The monitor runs in every mode: besides preempting, it hands work left
  // queued behind a busy worker to an idle one (a fiber woken into runnext by
  // a waker that then computes for long would otherwise wait for it).
  if (signals_preempt(rt->options.preempt)) install_preempt_handler(rt->options.preempt_signal);
  safe_point_table::get().ensure_defaults();
  auto entry = [](void* arg) -> void* {
    monitor_main(static_cast<runtime_core*>(arg));
    return nullptr;
  };
  if (int err = start_thread(rt->monitor.thread, entry, rt))
    fatal(
        message().text("jiffy: cannot start the monitor thread (error ").number(static_cast<unsigned>(err)).text(")"));
  rt->monitor.started = true;
  // Set from here, before the runtime is handed out, so options() reads the
  // priority in force without a race.
  if (int prio = rt->options.monitor_priority; prio > 0) {
    if (int err = make_thread_realtime(rt->monitor.thread, prio)) {
      message m;
      m.text("jiffy: runtime_options::monitor_priority ").number(static_cast<unsigned>(prio)).text(" refused (");
      if (err == EPERM)
        m.text("not permitted: needs CAP_SYS_NICE or RLIMIT_RTPRIO");
      else
        m.text("error ").number(static_cast<unsigned>(err));
      m.text("): the monitor runs as an ordinary thread").write_line();
      rt->options.monitor_priority = 0;
    }
  }
}

// runtime::set_preempt_mode: checked like the options at start; the
// monitor looks at once.
inline void set_preempt_mode(runtime_core* rt, preempt_mode mode) {
  runtime_options o = rt->options;
  o.preempt = mode;
  validate_preemption_options(o);
  if (signals_preempt(mode)) install_preempt_handler(rt->options.preempt_signal);
  rt->mode.store(mode, std::memory_order_relaxed);
  nudge_monitor(rt, now_ns());
}

inline void stop_preemption(runtime_core* rt) {
  monitor_state& ms = rt->monitor;
  if (!ms.started) return;
  ms.stop.store(true, std::memory_order_release);
  ms.word.store(1, std::memory_order_release);
  store_load_barrier();
  if (ms.in_poll.load(std::memory_order_relaxed)) rt->poller.interrupt();
  futex_wake(&ms.word);
  join_thread(ms.thread);
  ms.started = false;
}

}  // namespace jiffy::detail
