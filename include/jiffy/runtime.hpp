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
#include <jiffy/detail/lifecycle.hpp>
#include <jiffy/detail/run_queue.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/spawn.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/wait.hpp>
#include <jiffy/options.hpp>
#include <jiffy/preempt.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
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
    detail::join_fiber(std::exchange(f_, nullptr));
  }

  // Lets the fiber run on by itself; the runtime still waits for it.
  void detach() noexcept {
    if (!f_) detail::fatal("fiber::detach() on a fiber that is not joinable");
    detail::release_fiber_ref(std::exchange(f_, nullptr));
  }

 private:
  friend class runtime;
  template <class F>
  friend fiber spawn(F&&);
  explicit fiber(detail::fiber_control* f) noexcept : f_(f) {}
  [[noreturn]] static void misuse(const char* what) noexcept {
    detail::message().text("jiffy: ").text(what).write_line();
    std::terminate();
  }
  detail::fiber_control* f_ = nullptr;
};

class runtime {
 public:
  explicit runtime(runtime_options options = {}) : core_(detail::start_runtime(options)) {}
  ~runtime() { detail::stop_runtime(core_); }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Starts f() as a fiber on any worker. Callable from any thread.
  template <class F>
  fiber spawn(F&& f) {
    return fiber(start(std::forward<F>(f), -1));
  }

  // Starts f() as a fiber that only ever runs on worker `worker_index` (for
  // APIs that must be called from one thread).
  template <class F>
  fiber spawn_pinned(unsigned worker_index, F&& f) {
    if (worker_index >= workers()) {
      detail::message m;
      detail::fatal(m.text("jiffy: runtime::spawn_pinned(): worker ")
                        .number(worker_index)
                        .text(" does not exist (the runtime has ")
                        .number(workers())
                        .text(")"));
    }
    return fiber(start(std::forward<F>(f), static_cast<int>(worker_index)));
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

  runtime_stats stats() const noexcept { return detail::collect_stats(core_); }
  unsigned workers() const noexcept { return static_cast<unsigned>(core_->workers.size()); }
  const runtime_options& options() const noexcept { return core_->options; }
  // The stack size actually used (rounded up to whole pages).
  std::size_t stack_size() const noexcept { return core_->stacks.stack_size(); }

 private:
  template <class F>
  friend fiber spawn(F&&);
  template <class F>
  friend fiber spawn_pinned(unsigned, F&&);

  template <class F>
  static detail::fiber_control* start_on(detail::runtime_core* rt, F&& f, int pin_to) {
    detail::fiber_control* fc = detail::create_fiber(rt, std::forward<F>(f), pin_to);
    detail::make_runnable(fc, detail::ready_reason::spawned);
    return fc;
  }
  template <class F>
  detail::fiber_control* start(F&& f, int pin_to) {
    return start_on(core_, std::forward<F>(f), pin_to);
  }

  detail::runtime_core* core_;
};

// Inside a fiber: starts f() as a new fiber in the same runtime.
template <class F>
fiber spawn(F&& f) {
  detail::runtime_core* rt = detail::current_runtime_core();
  if (!rt) detail::fatal("jiffy::spawn() called outside a fiber (use runtime::spawn())");
  return fiber(runtime::start_on(rt, std::forward<F>(f), -1));
}

// Inside a fiber: starts f() pinned to worker `worker_index` of this runtime.
template <class F>
fiber spawn_pinned(unsigned worker_index, F&& f) {
  detail::runtime_core* rt = detail::current_runtime_core();
  if (!rt) detail::fatal("jiffy::spawn_pinned() called outside a fiber (use runtime::spawn_pinned())");
  if (worker_index >= rt->workers.size()) detail::fatal("jiffy::spawn_pinned(): no such worker");
  return fiber(runtime::start_on(rt, std::forward<F>(f), static_cast<int>(worker_index)));
}

namespace this_fiber {

// True when called from a fiber (false on plain threads).
inline bool in_fiber() noexcept { return detail::this_cpu()->current != nullptr; }

// The running fiber's id, 0 on a plain thread.
inline std::uint64_t id() noexcept {
  detail::fiber_control* f = detail::this_cpu()->current;
  return f ? f->id : 0;
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
  detail::yield_fiber();
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
