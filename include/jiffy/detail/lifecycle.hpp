// jiffy/detail/lifecycle.hpp — starting and stopping a runtime.
//
// Rules:
//  * Options are checked before anything starts; a bad one is reported by
//    name (a message and abort), never silently adjusted.
//  * Stopping waits for every fiber, then stops the preemption monitor, then
//    wakes and joins the workers. The core is freed by its last reference:
//    fiber handles that outlive the runtime keep it alive.
#pragma once

#include <jiffy/detail/barrier.hpp>
#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/fault.hpp>
#include <jiffy/detail/heap.hpp>
#include <jiffy/detail/idle.hpp>
#include <jiffy/detail/live_runtimes.hpp>
#include <jiffy/detail/mcs_nodes.hpp>
#include <jiffy/detail/netpoll.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/preempt_count.hpp>
#include <jiffy/detail/preemption.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/safe_points.hpp>
#include <jiffy/detail/stack.hpp>
#include <jiffy/detail/trace_json.hpp>
#include <jiffy/detail/trace_recorder.hpp>
#include <jiffy/detail/worker.hpp>
#include <jiffy/options.hpp>

#include <atomic>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace jiffy::detail {

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

// ---------------------------------------------------------------------------
// Tracing (jiffy/trace.hpp; the recorder: detail/trace_recorder.hpp).

// The file the built-in recorder writes, or nullptr: runtime_options::
// trace_file, else the environment's JIFFY_TRACE; empty means none.
inline const char* trace_file_path(const runtime_options& o) noexcept {
  const char* p = o.trace_file ? o.trace_file : std::getenv("JIFFY_TRACE");
  return p && *p ? p : nullptr;
}

// Events per ring the recorder accepts: a 64-byte record each, so the upper
// bound keeps a ring under 4 GiB.
inline constexpr std::size_t max_trace_buffer_events = std::size_t{1} << 26;

// Before any worker starts: the hooks are read without synchronisation.
inline void start_tracing(runtime_core* rt, unsigned tracks) {
  tracer& t = rt->trace;
  t.program = rt->options.trace;
  if (const char* path = trace_file_path(rt->options)) {
    std::size_t events = rt->options.trace_buffer_events;
    if (events == 0 || events > max_trace_buffer_events) {
      message m;
      fatal(m.text("jiffy: runtime_options::trace_buffer_events must be 1 to ")
                .number(max_trace_buffer_events)
                .text(" (got ")
                .number(events)
                .text(")"));
    }
    // Which recording runtime of the process this is (its file's number).
    static std::atomic<unsigned> recordings{0};
    unsigned ordinal = recordings.fetch_add(1, std::memory_order_relaxed) + 1;
    t.recorder = heap_new<trace_recorder>(rt->options.allocator, rt->options.allocator, tracks, events, path, ordinal);
    t.builtin = t.recorder->hooks();
  }
  t.on = t.program.any() || t.recorder;
}

// After every worker stopped: writes the recorder's file and frees it.
inline void finish_tracing(runtime_core* rt) {
  tracer& t = rt->trace;
  if (!t.recorder) return;
  (void)write_chrome_trace(*t.recorder, rt->options.allocator, static_cast<unsigned>(rt->workers.size()));
  t.builtin = trace_hooks{};  // fiber handles may outlive this: nothing may reach the freed recorder
  heap_delete(rt->options.allocator, std::exchange(t.recorder, nullptr));
}

inline runtime_core* start_runtime(const runtime_options& o) {
  validate_preemption_options(o);
  validate_allocator(o.allocator);
  construct_singletons();
  auto* rt = heap_new<runtime_core>(o.allocator, o);
  rt->poller.open();
  install_overflow_handler();
  preempt_schedule_hook.store(&preempt_schedule_impl, std::memory_order_relaxed);
  resched_is_current_hook.store(&resched_is_current_impl, std::memory_order_relaxed);
  unsigned n = o.workers ? o.workers : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  const heap_deleter<worker> owned{&rt->options.allocator};
  rt->workers.reserve(n);
  rt->idle.reserve(n);  // every worker may be idle at once: never grown after start
  for (unsigned i = 0; i < n; ++i) {
    worker_ptr w(heap_new<worker>(rt->options.allocator), owned);
    w->rt = rt;
    w->index = i;
    w->measuring_run_delay = rt->options.measure_run_delay;
    w->live_fibers.has_slots = true;  // linked by w alone (detail/live_fibers.hpp)
    rt->workers.push_back(std::move(w));
  }
  rt->main_worker =
      worker_ptr(heap_new<worker>(rt->options.allocator), owned);  // served by serve_main (detail/main_thread.hpp)
  rt->main_worker->rt = rt;
  rt->main_worker->index = n;
  rt->main_worker->serves_main = true;
  rt->main_worker->live_fibers.has_slots = true;  // linked by the serving thread alone
  rt->main_worker->measuring_run_delay = rt->options.measure_run_delay;
  start_tracing(rt, n + 1);  // a track per worker and the main thread
  for (auto& w : rt->workers) w->tracing = rt->trace.on;
  rt->main_worker->tracing = rt->trace.on;
  // The monitor reads each worker's thread id, CPU clock and thread state:
  // it starts only once every worker has published them (the latch orders
  // those writes before the monitor's reads).
  std::latch ready(static_cast<std::ptrdiff_t>(n));
  struct start_args {
    worker* w;
    std::latch* ready;
  };
  auto entry = [](void* arg) -> void* {
    start_args a = *static_cast<start_args*>(arg);  // copied: `arg` dies when `ready` opens
    worker_main(a.w, *a.ready);
    return nullptr;
  };
  std::vector<start_args, hooks_allocator<start_args>> args{hooks_allocator<start_args>(&rt->options.allocator)};
  args.reserve(n);
  for (auto& w : rt->workers) {
    args.push_back({w.get(), &ready});
    if (int err = start_thread(w->thread, entry, &args.back()))
      fatal(message()
                .text("jiffy: cannot start worker thread ")
                .number(w->index)
                .text(" (error ")
                .number(static_cast<unsigned>(err))
                .text(")"));
  }
  ready.wait();
  start_preemption(rt);
  link_live_runtime(rt);
  return rt;
}

inline void stop_runtime(runtime_core* rt) {
  if (cpu_local* cpu = this_cpu(); cpu->w && cpu->w->rt == rt)
    fatal("a runtime destroyed from one of its own fibers or workers (it would wait for itself forever)");
  // A handshake with every fiber's retirement (it counts itself, then looks
  // at `stopping`; detail/retire.hpp): either the last sees us stopping and
  // signals `drained`, or we count no fiber alive.
  rt->stopping.store(true, std::memory_order_seq_cst);
  store_load_barrier();
  {
    std::unique_lock<std::mutex> lk(rt->drain_lock);
    rt->drained.wait(lk, [&] { return fibers_alive(rt) == 0; });
  }
  // A thread that woke the last fiber may still be finishing the wake-up
  // (waking a worker, asking for a preemption): a few instructions.
  while (rt->foreign_wakers.load(std::memory_order_acquire) != 0) yield_thread();
  {
    std::lock_guard<std::mutex> lk(rt->idle_lock);
    while (!rt->idle.empty()) wake_worker_locked(rt, rt->idle.back());
  }
  stop_preemption(rt);
  for (auto& w : rt->workers) {
    w->sleep_word.store(1, std::memory_order_release);
    futex_wake(&w->sleep_word);
    join_thread(w->thread);
    worker_release_resources(w.get());
  }
  // The workers' share of the references joins the shared count, and the
  // bias that kept it from 0 meanwhile leaves (detail/retire.hpp). Joined:
  // no worker counts any more, and their writes are ordered before this.
  // The runtime object's own reference remains, so this never frees.
  std::int64_t on_workers = 0;
  for_each_worker(rt, [&](worker& w) { on_workers += w.refs_delta.load(std::memory_order_relaxed); });
  rt->drop_refs(runtime_core::refs_unfolded - on_workers);
  unlink_live_runtime(rt);
  rt->poller.close();
  finish_tracing(rt);
  rt->drop_ref();
}

}  // namespace jiffy::detail
