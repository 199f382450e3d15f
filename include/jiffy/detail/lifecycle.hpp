// jiffy/detail/lifecycle.hpp — starting and stopping a runtime.
//
// Rules:
//  * Options are checked before anything starts; a bad one is reported by
//    name (a message and abort), never silently adjusted.
//  * Stopping waits for every fiber, then stops the preemption monitor, then
//    wakes and joins the workers. The core is freed by its last reference:
//    fiber handles that outlive the runtime keep it alive.
#pragma once

#include <jiffy/detail/netpoll.hpp>
#include <jiffy/detail/preemption.hpp>
#include <jiffy/detail/scheduler.hpp>

#include <latch>
#include <sys/auxv.h>

namespace jiffy::detail {

inline void validate_options(const runtime_options& o) {
  using namespace std::chrono;
  if (o.preempt != preempt_mode::none && o.quantum < microseconds(50)) {
    message m;
    fatal(m.text("jiffy: runtime_options::quantum must be at least 50 us (got ").number(o.quantum.count()).text(" us)"));
  }
  // A preemption signal frame (several KiB with AVX-512 state) lands on the
  // fiber's stack, and the switch runs below it.
  std::size_t sigframe = getauxval(AT_MINSIGSTKSZ);
  if (sigframe < 2048) sigframe = 2048;
  std::size_t need = 2 * sigframe + preempt_stack_headroom;
  if (o.preempt == preempt_mode::full && o.stack_size < need) {
    message m;
    fatal(m.text("jiffy: runtime_options::stack_size too small for preemption: need at least ")
              .number(need)
              .text(" bytes (twice AT_MINSIGSTKSZ plus the switch), got ")
              .number(o.stack_size));
  }
}

// ---------------------------------------------------------------------------
// Starting and stopping.

// jiffy's own function-local statics, constructed here on the thread that
// creates the runtime, before any fiber runs. Constructed lazily from a fiber
// instead, the initialiser would run under the static's guard -- a lock jiffy
// cannot see -- in the executable's code, where a preemption may land: the
// next fiber on that worker to touch the static would block the worker on the
// guard until the preempted initialiser resumes, which it never does there.
// (mcs_registry::get(), first reached at a fiber's exit, did exactly that.)
inline void construct_singletons() noexcept {
  (void)page_size();
  (void)guard_budget::get();
  (void)mcs_registry::get();
  (void)overflow();
  (void)preempt_signals::get();
  (void)poll_desc_pool::get();
  (void)safe_point_table::get();
}

inline runtime_core* start_runtime(const runtime_options& o) {
  validate_options(o);
  construct_singletons();
  auto* rt = new runtime_core(o);
  netpoll_init(rt);
  install_overflow_handler();
  preempt_schedule_hook.store(&preempt_schedule_impl, std::memory_order_relaxed);
  unsigned n = o.workers ? o.workers : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>();
    w->rt = rt;
    w->index = i;
    rt->workers.push_back(std::move(w));
  }
  // The monitor reads each worker's thread id, CPU clock and thread state:
  // it starts only once every worker has published them (the latch orders
  // those writes before the monitor's reads).
  std::latch ready(static_cast<std::ptrdiff_t>(n));
  for (auto& w : rt->workers) {
    worker* wp = w.get();
    wp->thread = std::thread([wp, &ready] { worker_main(wp, ready); });
  }
  ready.wait();
  start_preemption(rt);
  return rt;
}

inline void stop_runtime(runtime_core* rt) {
  if (cpu_local* cpu = this_cpu(); cpu->w && cpu->w->rt == rt)
    fatal("a runtime destroyed from one of its own fibers or workers (it would wait for itself forever)");
  // A handshake with the last fiber's exit (it drops `live`, then looks at
  // `stopping`): either it sees us stopping and signals `drained`, or we see
  // live == 0.
  rt->stopping.store(true, std::memory_order_seq_cst);
  store_load_barrier();
  {
    std::unique_lock<std::mutex> lk(rt->drain_lock);
    rt->drained.wait(lk, [&] { return rt->live.load(std::memory_order_seq_cst) == 0; });
  }
  {
    std::lock_guard<std::mutex> lk(rt->idle_lock);
    while (!rt->idle.empty()) wake_worker_locked(rt, rt->idle.back());
  }
  stop_preemption(rt);
  for (auto& w : rt->workers) {
    w->sleep_word.store(1, std::memory_order_release);
    futex_wake(&w->sleep_word);
    w->thread.join();
    worker_release_resources(w.get());
  }
  netpoll_shutdown(rt);
  rt->drop_ref();
}

inline runtime_stats collect_stats(const runtime_core* rt) noexcept {
  runtime_stats s;
  for (auto& w : rt->workers) {
    const worker_counters& c = w->counters;
    auto r = [](const std::atomic<std::uint64_t>& x) { return x.load(std::memory_order_relaxed); };
    s.fibers_finished += r(c.finished);
    s.context_switches += r(c.switches);
    s.yields += r(c.yields);
    s.parks += r(c.parks);
    s.steals += r(c.steals);
    s.worker_sleeps += r(c.sleeps);
    s.preemptions += r(c.preemptions);
    s.voluntary_reschedules += r(c.voluntary);
    s.deferred_preemptions += r(c.deferred);
  }
  s.fibers_spawned = s.fibers_finished + rt->live.load(std::memory_order_relaxed);
  s.signals_sent = rt->signals_sent.load(std::memory_order_relaxed);
  return s;
}

}  // namespace jiffy::detail
