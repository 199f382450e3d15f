// jiffy/detail/preemption.hpp — timer-driven preemption of running fibers.
//
// The rules of this file, before the code.
//
// Who decides.  Each runtime has one monitor thread (Go's sysmon), not a
// POSIX timer per worker: arming a timer at every switch would cost a system
// call per switch; a thread-CPU-time timer fires only at the kernel's tick
// (4 ms at HZ=250, too coarse for a 1 ms quantum); and a CLOCK_MONOTONIC
// timer aimed at the worker costs it 15-25 us per expiry on a VM (a timer
// interrupt), against 7-10 us for a tgkill from another CPU
// (bench/signal_cost). Every worker
// publishes a slice number that changes at each switch, with its low bit
// telling whether a fiber is running. The monitor samples the slices every
// tick (a quarter of the quantum, between 25 µs and 10 ms; at least 1 ms
// under `none`, where nothing is preempted) and remembers when
// it first saw each one; a slice seen for a whole quantum has used it up.
//
// Who is preempted.  Only a worker whose fiber has used up its quantum while
// other work waits for that worker: work only it may run (fibers it
// preempted, pinned fibers, due timers) or shared work (its runnext and
// ring, the global queue) that no idle worker can take instead — an idle
// worker is woken for that. An idle worker, a worker whose fibers switch
// faster than the quantum, and a fiber alone with nothing else to run are
// left alone: no flag, no signal.
//
// How.  The monitor sets that worker's need_resched. Under `voluntary` that
// is all: the fiber switches at its next preemption point — cond_resched(),
// the preempt_enable() that brings its count to 0, preempt_check_resched(),
// a yield or a blocking call. Under `full` the monitor also sends the
// worker's thread a signal (SIGURG by default), at most once per tick, and
// only if the slice has consumed its quantum in CPU time and the thread is
// computing right now (CPU time advancing, and 'R' in /proc): a thread
// blocked in the kernel (poll, epoll_wait, nanosleep, a read) is not
// signalled, so its system call is not interrupted. One race remains, as in
// every signal-preempting runtime: a thread signalled while computing may
// enter a system call in the microseconds before the signal lands;
// restartable calls then resume (SA_RESTART), while nanosleep, poll and
// epoll_wait report EINTR, as they do for any signal.
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
#include <jiffy/detail/safe_points.hpp>
#include <jiffy/detail/scheduler.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

namespace jiffy::detail {

inline constexpr std::uint64_t preempt_tag = std::uint64_t{0x6a} << 56;
inline constexpr std::uint64_t preempt_slice_mask = (std::uint64_t{1} << 56) - 1;

// ---------------------------------------------------------------------------
// The handler.

struct signal_slot {
  struct sigaction previous {};
  bool installed = false;
};

struct preempt_signals {
  std::mutex mu;
  signal_slot slots[65];
  std::atomic<pid_t> pid{0};  // the same value from every runtime; atomic for the readers
  static preempt_signals& get() noexcept {
    static preempt_signals s;
    return s;
  }
};

inline std::uintptr_t interrupted_pc(const ucontext_t* uc) noexcept {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#endif
}

// Bytes the switch below the signal frame may need: the handler's own frame,
// the scheduler's pick and the switch (measured at well under 2 KiB), with a
// wide margin.
inline constexpr std::uintptr_t preempt_stack_headroom = 8 * 1024;

inline void chain_signal(int sig, siginfo_t* info, void* uc) noexcept {
  const struct sigaction& prev = preempt_signals::get().slots[sig].previous;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, uc);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    prev.sa_handler(sig);
  }
  // SIG_DFL: SIGURG's default is to ignore it; for another signal chosen by
  // the program, a stray copy is dropped rather than killing the process.
}

inline void preempt_signal_handler(int sig, siginfo_t* info, void* ucv) noexcept {
  int saved_errno = errno;
  bool ours = info && info->si_code == SI_QUEUE &&
              info->si_pid == preempt_signals::get().pid.load(std::memory_order_relaxed) &&
              (reinterpret_cast<std::uintptr_t>(info->si_value.sival_ptr) & ~preempt_slice_mask) == preempt_tag;
  if (!ours) {
    chain_signal(sig, info, ucv);
    errno = saved_errno;
    return;
  }
  cpu_local* cpu = this_cpu();
  worker* w = cpu->w;
  fiber_control* self = cpu->current;
  std::uint64_t aimed = reinterpret_cast<std::uintptr_t>(info->si_value.sival_ptr) & preempt_slice_mask;
  if (!w || !self || ((w->slice.load(std::memory_order_relaxed) >> 1) & preempt_slice_mask) != aimed) {
    errno = saved_errno;  // stale: that slice already ended
    return;
  }
  auto* uc = static_cast<ucontext_t*>(ucv);
  char here;
  bool room = reinterpret_cast<std::uintptr_t>(&here) - reinterpret_cast<std::uintptr_t>(self->stack.base) >
              preempt_stack_headroom;
  if (cpu->preempt_count != 0 || !room || !safe_point_table::get().allows(interrupted_pc(uc))) {
    // Deferred: need_resched stays set for the next preemption point.
    worker_counters::bump(w->counters.deferred);
    errno = saved_errno;
    return;
  }
  runtime_enter(cpu);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  serve_global_first_after_preemption(w);
  if (fiber_control* next = pick_next(w)) {
    worker_counters::bump(w->counters.preemptions);
    self->async_preempted = true;  // back of this worker's private queue: resume here
    w->preempted_waiting.fetch_add(1, std::memory_order_relaxed);
    switch_to(next, post_action{post_action::requeue});
    self->async_preempted = false;
    w = this_cpu()->w;  // the same worker, by the rule above; re-read after any switch all the same
    w->preempted_waiting.fetch_sub(1, std::memory_order_relaxed);
  }
  runtime_exit(this_cpu());
  errno = saved_errno;
}

inline void install_preempt_handler(int sig) {
  if (sig <= 0 || sig >= 65) fatal("runtime_options::preempt_signal is not a valid signal number");
  if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
      sig == SIGABRT)
    fatal("runtime_options::preempt_signal cannot be SIGKILL, SIGSTOP or a fault signal");
  preempt_signals& ps = preempt_signals::get();
  std::lock_guard<std::mutex> lk(ps.mu);
  ps.pid.store(::getpid(), std::memory_order_relaxed);
  // Installed already, and still ours? (The program may have installed its
  // own handler since: then ours goes back in front and chains to that one.)
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  if (ps.slots[sig].installed && (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &preempt_signal_handler)
    return;
  struct sigaction sa {};
  sa.sa_sigaction = &preempt_signal_handler;
  // SA_RESTART: an interrupted restartable system call resumes instead of
  // failing with EINTR. No SA_ONSTACK: the handler must run on the fiber's
  // stack, where its frame survives while the fiber is switched out (a frame
  // on an alternate stack would be overwritten by the next signal).
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, &ps.slots[sig].previous);
  ps.slots[sig].installed = true;
}

// ---------------------------------------------------------------------------
// The monitor.

inline std::int64_t thread_cpu_ns(clockid_t clock) noexcept {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Whether the kernel has the thread running or runnable ('R' in
// /proc/thread-self/stat) rather than asleep in a system call. Read right
// before signalling, it narrows the window in which a signal could land in a
// system call the thread is just entering to microseconds.
inline bool thread_is_running(int stat_fd) noexcept {
  if (stat_fd < 0) return true;
  char buf[512];
  ssize_t n = ::pread(stat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return true;
  buf[n] = 0;
  const char* close_paren = nullptr;
  for (const char* p = buf; *p; ++p)
    if (*p == ')') close_paren = p;  // the command name may itself contain ')'
  return !close_paren || close_paren[1] != ' ' || close_paren[2] == 'R';
}

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

inline void send_preempt_signal(runtime_core* rt, worker* w, std::uint64_t slice) noexcept {
  siginfo_t info{};
  info.si_signo = rt->options.preempt_signal;
  info.si_code = SI_QUEUE;
  info.si_pid = preempt_signals::get().pid.load(std::memory_order_relaxed);
  info.si_uid = ::getuid();
  info.si_value.sival_ptr = reinterpret_cast<void*>(preempt_tag | (slice & preempt_slice_mask));
  if (::syscall(SYS_rt_tgsigqueueinfo, info.si_pid, w->tid, info.si_signo, &info) == 0)
    rt->signals_sent.fetch_add(1, std::memory_order_relaxed);
}

// A worker whose thread has been blocked in the kernel for over a second,
// using no CPU, while a fiber it preempted by signal waits to resume on it, is
// very likely deadlocked: the running fiber waits for a lock the preempted one
// holds without jiffy knowing — a function-local static's initialiser,
// std::call_once, a std::mutex in the executable. Say so once, rather than
// hang in silence.
inline void report_if_stuck(worker* w, std::int64_t now) noexcept {
  monitor_view& m = w->monitor;
  if (m.stuck_reported || w->preempted_waiting.load(std::memory_order_relaxed) == 0) {
    m.stuck_cpu = -1;
    return;
  }
  std::int64_t cpu = thread_cpu_ns(w->cpu_clock);
  if (m.stuck_cpu < 0 || cpu - m.stuck_cpu > 1000000) {  // used CPU: not stuck; start over
    m.stuck_cpu = cpu;
    m.stuck_since = now;
    return;
  }
  if (now - m.stuck_since < 1000000000 || thread_is_running(w->stat_fd)) return;
  m.stuck_reported = true;
  message msg;
  msg.text("jiffy: worker ").number(w->index);
  msg.text(" has been blocked for over a second while a fiber it preempted waits to resume on it: likely a deadlock on");
  msg.write_line();
  msg.text("jiffy:   a lock that fiber holds unknown to jiffy (a function-local static's initialiser, std::call_once, a");
  msg.write_line();
  msg.text("jiffy:   std::mutex) — guard that code with preempt_guard or forbid its range (README: Async-safe points)");
  msg.write_line();
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
  // The kernel lets a normal thread's timed sleep end up to 50 us late (its
  // timer slack) to batch wake-ups; every tick late is that much longer a
  // slice may overrun its quantum.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const bool full = rt->options.preempt == preempt_mode::full;
  int idle_ticks = 0;
  while (!rt->monitor_stop.load(std::memory_order_acquire)) {
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
        if (preempting) m.slice_cpu = m.cpu_at_look = thread_cpu_ns(w->cpu_clock), m.look = now;
        continue;
      }
      if (full) report_if_stuck(w, now);
      if (!preempting || now - m.since < quantum || !work_waiting_for(w, rt, now)) continue;
      // A quantum is CPU time, as the kernel's scheduler counts it: a slice
      // whose worker the OS descheduled, or that slept in a system call, has
      // not used it up. (Counted in wall time, a fiber resumed on a worker
      // the OS then kept off the CPU could lose its slice at its first
      // preemption point without having run.) /2: the slice's start is seen
      // up to a tick late.
      std::int64_t cpu = thread_cpu_ns(w->cpu_clock);
      if (cpu - m.slice_cpu < quantum / 2) continue;
      // release: a worker that sees the flag sees which slice it is for.
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
      if (!using_cpu || !thread_is_running(w->stat_fd)) continue;
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
      rt->monitor_word.store(0, std::memory_order_relaxed);
      // A handshake with switch_to leaving the idle loop (it stores its odd
      // slice, then looks at monitor_idle): either we see it running or it
      // sees us idle and wakes us.
      rt->monitor_idle.store(true, std::memory_order_relaxed);
      store_load_barrier();
      bool running = false;
      for (auto& wp : rt->workers) running |= (wp->slice.load(std::memory_order_relaxed) & 1) != 0;
      if (!running && !rt->monitor_stop.load(std::memory_order_acquire)) futex_wait(&rt->monitor_word, 0);
      rt->monitor_idle.store(false, std::memory_order_relaxed);
      rt->monitor_word.store(0, std::memory_order_relaxed);  // consumed: the tick waits below must wait again
      idle_ticks = 0;
      continue;
    }
    futex_wait(&rt->monitor_word, 0, now_ns() + tick);
  }
}

inline void start_preemption(runtime_core* rt) {
  // The monitor runs in every mode: besides preempting, it hands work left
  // queued behind a busy worker to an idle one (a fiber woken into runnext by
  // a waker that then computes for long would otherwise wait for it).
  if (rt->options.preempt == preempt_mode::full) install_preempt_handler(rt->options.preempt_signal);
  safe_point_table::get().ensure_defaults();
  rt->monitor = std::thread([rt] { monitor_main(rt); });
}

inline void stop_preemption(runtime_core* rt) {
  if (!rt->monitor.joinable()) return;
  rt->monitor_stop.store(true, std::memory_order_release);
  rt->monitor_word.store(1, std::memory_order_release);
  futex_wake(&rt->monitor_word);
  rt->monitor.join();
}

}  // namespace jiffy::detail
