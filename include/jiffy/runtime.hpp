// jiffy/runtime.hpp — the M:N runtime: workers, fibers, spawning and joining.
//
// Rules:
//  * A runtime owns N worker threads and runs fibers on them, moving fibers
//    between workers (work stealing) unless a fiber is pinned, inside
//    migrate_disable(), or preempt-disabled.
//  * spawn() works from any thread; from inside a fiber, jiffy::spawn() puts
//    the new fiber into the caller's runtime. A fiber handle is like
//    std::thread: move-only, and it must be joined or detached before it is
//    destroyed (else the program prints why and terminates).
//  * block_on(f) runs f as a fiber and blocks the calling thread (or parks the
//    calling fiber) until it returns, handing back its value; with exceptions
//    enabled, an exception thrown by f is rethrown to the caller. An
//    exception escaping a spawned fiber calls std::terminate, as with
//    std::thread.
//  * Destroying a runtime waits for every fiber, detached ones included, then
//    joins the workers. Destroying it from one of its own fibers would wait
//    forever and is reported as a bug.
#pragma once

#include <jiffy/detail/block_on.hpp>
#include <jiffy/detail/parallel_for.hpp>
#include <jiffy/detail/lifecycle.hpp>
#include <jiffy/detail/stats.hpp>
#include <jiffy/detail/main_thread.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/sched_setup.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/spawn.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/trace_points.hpp>
#include <jiffy/detail/wait.hpp>
#include <jiffy/options.hpp>
#include <jiffy/preempt.hpp>
#include <jiffy/sched.hpp>
#include <jiffy/sync.hpp>

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace jiffy {

class runtime;

// A handle to a spawned fiber. Move-only, like std::thread.
class [[nodiscard]] fiber {
 public:
  fiber() noexcept = default;
  fiber(fiber&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  fiber& operator=(fiber&& o) noexcept {
    if (f_) misuse("a joinable jiffy::fiber was assigned to (join() or detach() it first)");
    f_ = std::exchange(o.f_, nullptr);
    return *this;
  }
  fiber(const fiber&) = delete;
  fiber& operator=(const fiber&) = delete;
  ~fiber() {
    if (f_) misuse("a joinable jiffy::fiber was destroyed (join() or detach() it first)");
  }

  [[nodiscard]] bool joinable() const noexcept { return f_ != nullptr; }
  // A process-unique id, 0 for an empty handle.
  std::uint64_t id() const noexcept { return f_ ? f_->id : 0; }

  // Waits for the fiber to finish: parks the calling fiber, or blocks the
  // calling thread.
  void join() noexcept {
    if (!f_) detail::fatal("fiber::join() on a fiber that is not joinable");
    if (detail::this_cpu()->current == f_) detail::fatal("fiber::join() called by the fiber itself (deadlock)");
    detail::debug_might_sleep("fiber::join()");
    // A main fiber joined on the thread that serves main fibers would never
    // run: serve until it finishes.
    if (!detail::this_cpu()->current && f_->main_only && detail::may_serve_main(f_->rt))
      detail::serve_main_until_finished(f_, "fiber::join()");
    detail::join_fiber(std::exchange(f_, nullptr));
  }

  // Lets the fiber run on by itself; the runtime still waits for it.
  void detach() noexcept {
    if (!f_) detail::fatal("fiber::detach() on a fiber that is not joinable");
    detail::release_fiber_ref(std::exchange(f_, nullptr));
  }

 private:
  friend class runtime;
  explicit fiber(detail::fiber_control* f) noexcept : f_(f) {}
  [[noreturn]] static void misuse(const char* what) noexcept {
    detail::message().text("jiffy: ").text(what).write_line();
    std::terminate();
  }
  detail::fiber_control* f_ = nullptr;
};

// What a thread serving main fibers does when none is runnable
// (runtime::serve_main).
enum class serve_mode {
  main_only,  // waits for one (sleeps)
  help,       // runs other fibers meanwhile: the global queue, other workers' rings
};

class runtime {
 public:
  explicit runtime(runtime_options options = {}) : core_(detail::start_runtime(options)) {}
  // Waits for every fiber. On the thread that serves main fibers (or any
  // thread, if none has yet), main fibers still to finish are served first.
  ~runtime() {
    if (core_->main_live.load(std::memory_order_relaxed) > 0 && detail::may_serve_main(core_))
      detail::serve_main_until(
          core_, [this] { return core_->main_live.load(std::memory_order_relaxed) == 0; }, detail::no_deadline_ns,
          /*help=*/true, "runtime::~runtime()");
    detail::stop_runtime(core_);
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Starts f() as a fiber on any worker. Callable from any thread.
  template <class F>
  fiber spawn(F&& f) {
    return start_on(core_, std::forward<F>(f), -1);
  }

  // Starts f() with a scheduling class, priority, nice value and name
  // (jiffy/sched.hpp). Bad values stop the program with a message naming the
  // field and the value.
  template <class F>
  fiber spawn(const fiber_options& o, F&& f) {
    return start_on(core_, o, std::forward<F>(f), -1, "runtime::spawn()");
  }

  // Starts f() as a fiber that only ever runs on worker `worker_index` (for
  // APIs that must be called from one thread).
  template <class F>
  fiber spawn_pinned(unsigned worker_index, F&& f) {
    return start_on(core_, std::forward<F>(f), detail::pinned_worker(core_, worker_index, "runtime::spawn_pinned()"));
  }
  template <class F>
  fiber spawn_pinned(unsigned worker_index, const fiber_options& o, F&& f) {
    return start_on(core_, o, std::forward<F>(f), detail::pinned_worker(core_, worker_index, "runtime::spawn_pinned()"),
                    "runtime::spawn_pinned()");
  }

  // Starts f() as a main fiber: one that runs only on the program's own
  // thread, while it is in serve_main() (render submission, windowing and
  // other APIs bound to the main thread). Callable from any thread. Its
  // class and priority order it among main fibers; it runs until it parks,
  // yields or ends (never preempted by signal). Fibers it spawns or wakes
  // run on the workers.
  template <class F>
  fiber spawn_main(F&& f) {
    return start_on(core_, std::forward<F>(f), detail::pin_to_main);
  }
  template <class F>
  fiber spawn_main(const fiber_options& o, F&& f) {
    return start_on(core_, o, std::forward<F>(f), detail::pin_to_main, "runtime::spawn_main()");
  }

  // Runs main fibers on the calling thread until wg's count is zero, then
  // returns (a frame: spawn_main the frame's main-thread work, each calling
  // wg.done(), and serve). With serve_mode::help the thread also runs other
  // fibers while no main fiber is runnable (it returns between two fibers,
  // so a long one delays its return). The first thread to serve is the only
  // one that may (a parked main fiber must resume on its thread); calling it
  // from another, or from a fiber, stops the program with a message.
  void serve_main(wait_group& wg, serve_mode mode = serve_mode::main_only) {
    detail::bind_main_thread(core_, "runtime::serve_main()");
    if (wg.count() == 0) return;
    bool reached = false;  // written by the watcher, on this thread
    fiber watcher = spawn_main([&] {
      wg.wait();
      reached = true;
    });
    detail::serve_main_until(
        core_, [&] { return reached; }, detail::no_deadline_ns, mode == serve_mode::help, "runtime::serve_main()");
    watcher.join();
  }
  // Runs main fibers on the calling thread for `d`, then returns.
  template <class Rep, class Period>
  void serve_main(std::chrono::duration<Rep, Period> d, serve_mode mode = serve_mode::main_only) {
    detail::serve_main_until(
        core_, [] { return false; }, detail::deadline_after(d), mode == serve_mode::help, "runtime::serve_main()");
  }

  // Runs f() as a fiber and waits for it; returns what f returns.
  template <class F>
  auto block_on(F&& f) -> std::invoke_result_t<std::decay_t<F>&> {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    detail::block_on_slot<R> slot;
    std::decay_t<F> fn(std::forward<F>(f));
    spawn([&slot, &fn]() noexcept { slot.run(fn); }).join();
    return slot.take();
  }

  // Runs f(i) for every i in [first, last) on the runtime's workers, in
  // chunks of `grain` indices (0: about eight chunks per worker), and
  // returns when every call has returned (rethrowing the first exception f
  // threw). Callable from any thread; inside a fiber prefer
  // jiffy::parallel_for, which keeps the caller's scheduling class and
  // helps with the chunks.
  template <std::integral Index, class F>
  void parallel_for(Index first, Index last, F&& f, std::type_identity_t<Index> grain = 0) {
    auto g = detail::checked_grain(grain, "runtime::parallel_for()");
    block_on([&] { detail::run_parallel_for(core_, first, last, f, g); });
  }

  runtime_stats stats() const noexcept { return detail::collect_stats(core_); }
  // Starts the counters and run-delay figures of stats() afresh (not the
  // snapshot values such as stacks_mapped): measure one phase of a program.
  void reset_stats() noexcept { detail::reset_stats(core_); }
  unsigned workers() const noexcept { return static_cast<unsigned>(core_->workers.size()); }
  // The options the runtime runs with; `preempt` is the mode in force now.
  runtime_options options() const noexcept {
    runtime_options o = core_->options;
    o.preempt = core_->mode.load(std::memory_order_relaxed);
    return o;
  }
  // Changes the preemption model while fibers run (the kernel's
  // PREEMPT_DYNAMIC): takes effect at each worker's next look by the
  // monitor. A mode the runtime's options cannot support (a quantum under
  // 50 us, a stack too small for the signal frame) stops the program with
  // the same message the constructor would give.
  void set_preempt_mode(preempt_mode m) { detail::set_preempt_mode(core_, m); }
  // The stack size actually used (rounded up to whole pages).
  std::size_t stack_size() const noexcept { return core_->stacks.stack_size(); }
  // The usable stack a fiber spawned with fiber_options::stack_size =
  // `requested` gets: 0 or a size that rounds to the runtime's gives the
  // runtime's; any other is rounded up to a power of two (one pool each).
  std::size_t stack_size_for(std::size_t requested) const noexcept { return core_->stacks.size_for(requested); }

 private:
  template <class F>
  friend fiber spawn(F&&);
  template <class F>
  friend fiber spawn(const fiber_options&, F&&);
  template <class F>
  friend fiber spawn_pinned(unsigned, F&&);
  template <class F>
  friend fiber spawn_pinned(unsigned, const fiber_options&, F&&);
  template <class F>
  friend fiber spawn_main(F&&);
  template <class F>
  friend fiber spawn_main(const fiber_options&, F&&);

  // Every spawn ends here: traced, queued, and run at once if it outranks
  // its spawner (make_runnable made the request; a fiber acts on it here).
  static fiber launch(detail::runtime_core* rt, detail::fiber_control* fc) {
    detail::trace_spawn(rt, fc);
    detail::make_runnable(fc, detail::ready_reason::child);
    detail::preempt_check_resched_after_wake();
    return fiber(fc);
  }
  // Without options: nothing to check, and a new control block already
  // holds the defaults (the spawn+join fast path).
  template <class F>
  static fiber start_on(detail::runtime_core* rt, F&& f, int pin_to) {
    return launch(rt, detail::create_fiber(rt, std::forward<F>(f), pin_to));
  }
  // `caller` names the API in the message for a bad option.
  template <class F>
  static fiber start_on(detail::runtime_core* rt, const fiber_options& o, F&& f, int pin_to, const char* caller) {
    detail::check_fiber_options(o, caller);
    detail::check_stack_size(o.stack_size, detail::preemptible_stack_minimum(), caller);
    detail::fiber_control* fc = detail::create_fiber(rt, std::forward<F>(f), pin_to, o.stack_size);
    detail::apply_fiber_options(fc, o);
    return launch(rt, fc);
  }
  // The runtime of the calling fiber, for jiffy::spawn and its kin.
  static detail::runtime_core* calling_fibers_runtime(const char* caller, const char* instead) {
    detail::runtime_core* rt = detail::current_runtime_core();
    if (!rt) {
      detail::message m;
      detail::fatal(m.text(caller).text(" called outside a fiber (use ").text(instead).text(")"));
    }
    return rt;
  }

  detail::runtime_core* core_;
};

// Inside a fiber: starts f() as a new fiber in the same runtime.
template <class F>
fiber spawn(F&& f) {
  return runtime::start_on(runtime::calling_fibers_runtime("jiffy::spawn()", "runtime::spawn()"), std::forward<F>(f),
                           -1);
}

// Inside a fiber: starts f() with a scheduling class (jiffy/sched.hpp).
template <class F>
fiber spawn(const fiber_options& o, F&& f) {
  return runtime::start_on(runtime::calling_fibers_runtime("jiffy::spawn()", "runtime::spawn()"), o, std::forward<F>(f),
                           -1, "jiffy::spawn()");
}

// Inside a fiber: starts f() pinned to worker `worker_index` of this runtime.
template <class F>
fiber spawn_pinned(unsigned worker_index, F&& f) {
  detail::runtime_core* rt = runtime::calling_fibers_runtime("jiffy::spawn_pinned()", "runtime::spawn_pinned()");
  return runtime::start_on(rt, std::forward<F>(f), detail::pinned_worker(rt, worker_index, "jiffy::spawn_pinned()"));
}
template <class F>
fiber spawn_pinned(unsigned worker_index, const fiber_options& o, F&& f) {
  detail::runtime_core* rt = runtime::calling_fibers_runtime("jiffy::spawn_pinned()", "runtime::spawn_pinned()");
  return runtime::start_on(rt, o, std::forward<F>(f), detail::pinned_worker(rt, worker_index, "jiffy::spawn_pinned()"),
                           "jiffy::spawn_pinned()");
}

// Inside a fiber: starts f() as a main fiber of this runtime (see
// runtime::spawn_main).
template <class F>
fiber spawn_main(F&& f) {
  return runtime::start_on(runtime::calling_fibers_runtime("jiffy::spawn_main()", "runtime::spawn_main()"),
                           std::forward<F>(f), detail::pin_to_main);
}
template <class F>
fiber spawn_main(const fiber_options& o, F&& f) {
  return runtime::start_on(runtime::calling_fibers_runtime("jiffy::spawn_main()", "runtime::spawn_main()"), o,
                           std::forward<F>(f), detail::pin_to_main, "jiffy::spawn_main()");
}

// Inside a fiber: runs f(i) for every i in [first, last) on this runtime's
// workers, the calling fiber taking chunks too; helpers run with its
// scheduling class. grain: indices per chunk (0: about eight chunks per
// worker; larger than the range is fine). Returns when every call has
// returned, rethrowing the first exception f threw. Nested calls are fine.
template <std::integral Index, class F>
void parallel_for(Index first, Index last, F&& f, std::type_identity_t<Index> grain = 0) {
  detail::runtime_core* rt = detail::current_runtime_core();
  if (!rt) detail::fatal("jiffy::parallel_for() called outside a fiber (use runtime::parallel_for())");
  detail::run_parallel_for(rt, first, last, f, detail::checked_grain(grain, "jiffy::parallel_for()"));
}

namespace this_fiber {

// True when called from a fiber (false on plain threads).
inline bool in_fiber() noexcept { return detail::this_cpu()->current != nullptr; }

// The running fiber's id, 0 on a plain thread.
inline std::uint64_t id() noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  return f ? f->id : 0;
}

// The calling fiber's name: its fiber_options::name, the last set_name(),
// or "fiber-<id>"; empty on a plain thread. Valid until the fiber's next
// set_name() or its end.
[[nodiscard]] inline std::string_view name() noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  if (!f) return {};
  if (f->name) return f->name;
  // The default, formatted into the fiber's own buffer (it has none of its
  // own, so nothing else uses the buffer).
  char* out = f->name_buf;
  constexpr std::string_view prefix = "fiber-";
  prefix.copy(out, prefix.size());
  char* end = std::to_chars(out + prefix.size(), out + detail::fiber_control::name_capacity - 1, f->id).ptr;
  *end = '\0';
  return {out, static_cast<std::size_t>(end - out)};
}

// Names the calling fiber (diagnostics, traces): a copy of up to 31 bytes
// of `name` is kept (longer names are cut). operation_not_permitted on a
// plain thread, changing nothing.
[[nodiscard]] inline std::error_code set_name(std::string_view name) noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  if (!f) return std::make_error_code(std::errc::operation_not_permitted);
  std::size_t n =
      name.size() < detail::fiber_control::name_capacity ? name.size() : detail::fiber_control::name_capacity - 1;
  name.copy(f->name_buf, n);
  f->name_buf[n] = '\0';
  f->name = f->name_buf;
  // What the worker publishes for the stuck-worker report (read only while
  // this fiber is blocked, so never during this copy). In the runtime
  // section: the worker must be the one running us.
  detail::cpu_local* cpu = detail::this_cpu();
  detail::runtime_enter(cpu);
  cpu->w->running_name.store(f->name, std::memory_order_relaxed);
  detail::runtime_exit(cpu);
  return {};
}

// The index of the worker running the caller; not_a_worker on a plain thread.
inline constexpr unsigned not_a_worker = ~0u;
inline unsigned worker_index() noexcept {
  detail::worker* w = detail::this_cpu()->w;
  return w ? w->index : not_a_worker;
}

// Lets other runnable fibers on this worker run first. On a plain thread,
// std::this_thread::yield().
inline void yield() noexcept {
  detail::cpu_local* cpu = detail::this_cpu();
  if (!cpu->current) {
    std::this_thread::yield();
    return;
  }
  detail::debug_might_sleep("this_fiber::yield()");
  detail::yield_fiber(cpu);
}

// Changes the calling fiber's scheduling class and priority (priority
// 1-99 for fifo and rr, 0 otherwise). Returns invalid_argument for a bad
// value and operation_not_permitted outside a fiber, changing nothing. A
// fiber that lowers itself below waiting work gives way at once.
[[nodiscard]] inline std::error_code set_scheduler(sched_policy policy, int priority = 0) noexcept {
  return detail::set_current_sched(policy, priority, detail::keep_nice);
}

// Changes the calling fiber's nice value (-20..19; normal and batch only,
// whose CPU share it sets). Same errors as set_scheduler.
[[nodiscard]] inline std::error_code set_nice(int nice) noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  if (!f) return std::make_error_code(std::errc::operation_not_permitted);
  return detail::set_current_sched(f->sched.policy, f->sched.priority, nice);
}

// The calling fiber's class, priority and nice value (on a plain thread:
// normal, 0, 0).
[[nodiscard]] inline sched_policy get_scheduler() noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  return f ? f->sched.policy : sched_policy::normal;
}
[[nodiscard]] inline int get_priority() noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  return f ? f->sched.priority : 0;
}
[[nodiscard]] inline int get_nice() noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  return f ? f->sched.nice : 0;
}

template <class Clock, class Dur>
void sleep_until(std::chrono::time_point<Clock, Dur> t) {
  jiffy::detail::sleep_until_ns(jiffy::detail::to_monotonic_ns(t));
}

template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  jiffy::detail::sleep_until_ns(jiffy::detail::deadline_after(d));
}

}  // namespace this_fiber
}  // namespace jiffy
