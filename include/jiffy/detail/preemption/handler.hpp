// jiffy/detail/preemption/handler.hpp — the preemption signal's handler:
// switching a running fiber out from inside the signal.
//
// Rules (the design, and why each check is safe, are in
// detail/preemption.hpp: "The handler" and "Where it resumes"):
//  * Only jiffy's own signal (queued by this process, tagged with the slice
//    it was aimed at) for the slice still running is acted on; anything else
//    is chained to the previous handler.
//  * It defers (need_resched stays set, the deferral is counted) unless the
//    preempt count is 0, the interrupted PC is an async-safe point, the
//    stack has room for the switch and no std::call_once is in progress on
//    this thread. (Holders of foreign locks have their count raised:
//    platform/lock_interposition.hpp.)
//  * Async-signal safety: the handler touches only this thread's cpu_local,
//    this worker's queues and counters, and the runtime's queues under their
//    raw spinlocks, all of which runtime code reaches only with the preempt
//    count raised — so the handler never interrupts a holder of anything it
//    takes. (Picking may also take the stack pool's mutex, idle_lock and a
//    descriptor lock through a poll; those holders, too, always raise the
//    count first.)
//  * errno is saved and restored around everything.
#pragma once

#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/platform/clock_interposition.hpp>
#include <jiffy/detail/platform/lock_interposition.hpp>
#include <jiffy/detail/platform/signals.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/preemption/request.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/safe_points.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/trace_points.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>

namespace jiffy::detail {

// Bytes the switch below the signal frame may need: the handler's own frame,
// the scheduler's pick and the switch (measured at well under 2 KiB), with a
// wide margin.
inline constexpr std::uintptr_t preempt_stack_headroom = 8 * 1024;

// The least stack a fiber needs to be preempted by signal: the frame the
// kernel pushes (twice its minimum, for the state it grows with) and the
// switch below it.
inline std::size_t preemptible_stack_minimum() noexcept { return 2 * min_signal_frame_size() + preempt_stack_headroom; }

// A signal that is not ours goes to the handler installed before ours. If
// that was SIG_DFL: SIGURG's default is to ignore it; for another signal
// chosen by the program, a stray copy is dropped rather than killing the
// process.
inline void chain_preempt_signal(int sig, signal_info* info, void* uc) noexcept {
  (void)chain_signal(preempt_signals::get().slots[sig].previous, sig, info, uc);
}

inline void preempt_signal_handler(int sig, signal_info* info, void* ucv) noexcept {
  int saved_errno = errno;
  auto value = reinterpret_cast<std::uintptr_t>(
      queued_signal_value(info, preempt_signals::get().pid.load(std::memory_order_relaxed)));
  bool ours = (value & ~preempt_slice_mask) == preempt_tag;
  if (!ours) {
    chain_preempt_signal(sig, info, ucv);
    errno = saved_errno;
    return;
  }
  cpu_local* cpu = this_cpu();
  worker* w = cpu->w;
  fiber_control* self = cpu->current;
  std::uint64_t aimed = value & preempt_slice_mask;
  if (!w || !self || ((w->slice.load(std::memory_order_relaxed) >> 1) & preempt_slice_mask) != aimed) {
    errno = saved_errno;  // stale: that slice already ended
    return;
  }
  char here;
  bool room = reinterpret_cast<std::uintptr_t>(&here) - reinterpret_cast<std::uintptr_t>(self->stack.base) >
              preempt_stack_headroom;
  // in_std_call_once: std::call_once's callable sits in a thread-local
  // until it returns (platform/lock_interposition.hpp).
  if (in_atomic(cpu) || !room || in_std_call_once() || !preemptible_at(ucv)) {
    // Deferred: need_resched stays set for the next preemption point.
    worker_counters::bump(w->counters.deferred);
    trace_preempt_deferred(w, self);
    errno = saved_errno;
    return;
  }
  runtime_enter(cpu);
  unblock_signal(sig);
  serve_global_first_after_preemption(w);
  if (fiber_control* next = pick_next(w, true, preemption_min_rank(self, w))) {
    worker_counters::bump(w->counters.preemptions);
    self->async_preempted = true;  // back of this worker's private queue: resume here
    w->preempted_waiting.fetch_add(1, std::memory_order_relaxed);
    switch_to(cpu, next, post_action{post_action::requeue}, switch_reason::preempted);
    self->async_preempted = false;
    w = this_cpu()->w;  // the same worker, by the rule above; re-read after any switch all the same
    w->preempted_waiting.fetch_sub(1, std::memory_order_relaxed);
  }
  runtime_exit(this_cpu());
  errno = saved_errno;
}

inline void install_preempt_handler(int sig) {
  if (!valid_signal_number(sig)) {
    message m;
    fatal(m.text("jiffy: runtime_options::preempt_signal is not a valid signal number (got ")
              .number(static_cast<unsigned>(sig))
              .text(")"));
  }
  if (is_fault_or_unblockable_signal(sig)) {
    message m;
    fatal(m.text("jiffy: runtime_options::preempt_signal cannot be SIGKILL, SIGSTOP or a fault signal (got ")
              .number(static_cast<unsigned>(sig))
              .text(")"));
  }
  preempt_signals& ps = preempt_signals::get();
  std::lock_guard<std::mutex> lk(ps.mu);
  ps.pid.store(current_process_id(), std::memory_order_relaxed);
  // Installed already, and still ours? (The program may have installed its
  // own handler since: then ours goes back in front and chains to that one.)
  if (ps.slots[sig].installed && signal_handler_installed(sig, &preempt_signal_handler)) return;
  // restart: an interrupted restartable system call resumes instead of
  // failing with EINTR. Not on the alternate stack: the handler must run on
  // the fiber's stack, where its frame survives while the fiber is switched
  // out (a frame on an alternate stack would be overwritten by the next
  // signal).
  install_signal_handler(sig, &preempt_signal_handler, &ps.slots[sig].previous, /*on_alternate_stack=*/false,
                         /*restart=*/true, /*nodefer=*/false);
  ps.slots[sig].installed = true;
}

}  // namespace jiffy::detail
