// jiffy/detail/main_thread.hpp — fibers that run only on the program's own
// thread (runtime::spawn_main), served by it when it calls serve_main.
//
// The rules of this file, before the code.
//
// The main worker.  Each runtime has one worker more than it starts
// threads for: `main_worker`, with no thread of its own and not in
// `workers` (so no other worker steals from it, idles for it, or fires its
// timers, and the monitor does not watch it). A thread that calls
// serve_main becomes its thread for the call: it runs the scheduler loop
// below on the main worker's state, and returns to the program after. The
// first thread to serve is the only one that ever may (a fiber that parked
// on one thread must not resume on another: its thread_locals and errno
// would change under it).
//
// Which fibers run there.  A fiber spawned with spawn_main is pinned to the
// main worker: whoever makes it runnable queues it in the main worker's
// inbox and wakes the serving thread if it sleeps (make_runnable, wake_main).
// The main worker picks the highest-ranked of its fibers first, in FIFO
// order among equals (pick_main: its queue is short, a walk is cheap), so
// classes and priorities order main fibers as they order any others. It
// does not preempt by signal: a main fiber runs until it parks, yields or
// ends (the monitor does not watch the main worker; wake-up preemption is
// not asked of it). With `help` the serving thread also takes other fibers
// when it has no main fiber to run — from the global queue, the real-time
// and idle classes, and other workers' rings — until it next has one.
//
// What must not strand.  Other fibers never stay queued on the main worker:
// one made runnable by a fiber on the main thread goes to the global queue,
// and a fiber that arms a timer there arms it on worker 0, whose timers
// other workers fire (detail/wait.hpp). When a helping serve ends, what it
// stole and has not run goes back to the global queue.
//
// Sleeping.  With nothing to run, the serving thread sleeps on the main
// worker's futex word, until its earliest timer or the serve's deadline.
// The handshake with wake_main: the sleeper clears the word, says it sleeps,
// then (store_load_barrier) looks for work; a waker queues, sets the word,
// then (store_load_barrier) looks whether it sleeps. Either the sleeper sees
// the work, or the waker sees it asleep and wakes it (and the futex wait
// returns at once if the word is already set).
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/fault.hpp>
#include <jiffy/detail/pick.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/trace_points.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy::detail {

// Binds the main worker to the calling thread on first use; stops the
// program if another thread is bound, or if the caller is a fiber or a
// worker of any runtime.
inline void bind_main_thread(runtime_core* rt, const char* caller) noexcept {
  if (this_cpu()->w) {
    message m;
    fatal(m.text("jiffy: ").text(caller).text(
        " called from a fiber or a worker thread: call it from the program's own thread (the game loop's)"));
  }
  long me = static_cast<long>(current_thread_id());
  long bound = 0;
  // relaxed: only the thread itself acts on the binding.
  if (rt->main_thread.compare_exchange_strong(bound, me, std::memory_order_relaxed) || bound == me) return;
  message m;
  fatal(m.text("jiffy: ")
            .text(caller)
            .text(" called on thread ")
            .signed_number(me)
            .text(", but this runtime's main fibers are served by thread ")
            .signed_number(bound)
            .text(" (the first to serve them; they may not move)"));
}

// Whether the calling thread may run the main worker's fibers: it is not a
// fiber or worker, and no other thread has been bound.
inline bool may_serve_main(const runtime_core* rt) noexcept {
  if (this_cpu()->w) return false;
  long bound = rt->main_thread.load(std::memory_order_relaxed);
  return bound == 0 || bound == static_cast<long>(current_thread_id());
}

// Whether the main worker has a fiber of its own waiting. On the serving thread.
inline bool main_work_waiting(worker* mw) noexcept {
  return mw->inbox_nonempty.load(std::memory_order_acquire) || !mw->home_queue.empty() ||
         mw->timers.earliest() <= now_ns();
}

// Runs the main worker's fibers on the calling thread (bound first) until
// done() is true — checked between fibers, so a fiber of this thread's own
// must be what makes it true, or a wake_main must follow — or `until`
// passes. With `help`, other fibers too. Returns when it stopped.
template <class Done>
void serve_main_until(runtime_core* rt, Done&& done, std::int64_t until, bool help, const char* caller) noexcept {
  bind_main_thread(rt, caller);
  worker* mw = rt->main_worker.get();
  cpu_local* cpu = this_cpu();
  cpu->w = mw;
  cpu->current = nullptr;
  mw->cpu = cpu;
  mw->main_helps = help;
  sanitizer_init_thread(mw->san);
  ensure_alternate_signal_stack();  // for the stack-overflow report (detail/fault.hpp)
  runtime_enter(cpu);
  for (;;) {
    if (done() || now_ns() >= until) break;
    if (fiber_control* f = pick_main(mw, rank_idle)) {
      switch_to(cpu, f, post_action{}, switch_reason::yield);  // (the loop leaves: no fiber, no reason)
      continue;
    }
    // Nothing to run: sleep until woken, the earliest timer, or `until`
    // (helping, at most 200 us: new work elsewhere does not wake us).
    mw->sleep_word.store(0, std::memory_order_relaxed);
    mw->main_asleep.store(true, std::memory_order_relaxed);
    store_load_barrier();
    std::int64_t deadline = until < mw->timers.earliest() ? until : mw->timers.earliest();
    if (help && deadline - now_ns() > 200000) deadline = now_ns() + 200000;
    if (!main_work_waiting(mw) && !done() && deadline > now_ns()) {
      worker_counters::bump(mw->counters.sleeps);
      trace_worker_sleep(mw, true);
      futex_wait(&mw->sleep_word, 0, deadline == no_deadline_ns ? -1 : deadline);
      trace_worker_sleep(mw, false);
    }
    mw->main_asleep.store(false, std::memory_order_relaxed);
  }
  // Stolen work not run goes back where every worker can take it.
  while (fiber_control* f = mw->ring.pop()) global_push(rt, f);
  if (rt->global_size.load(std::memory_order_relaxed) > 0) wake_idle_if_needed(rt);
  mw->main_helps = false;
  runtime_exit(cpu);
  cpu = this_cpu();
  cpu->w = nullptr;
}

// fiber::join() of a main fiber on the thread that may serve it: serves
// until it has finished (it finishes on this thread, so the check between
// fibers sees it).
inline void serve_main_until_finished(fiber_control* f, const char* caller) noexcept {
  auto finished = [f] {
    f->join_lock.lock();
    bool done = f->done;
    f->join_lock.unlock();
    return done;
  };
  serve_main_until(f->rt, finished, no_deadline_ns, /*help=*/false, caller);
}

}  // namespace jiffy::detail
