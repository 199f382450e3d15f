// jiffy/blocking.hpp — running blocking work (a file read, getaddrinfo, a
// C library that sleeps) without stalling a worker.
//
//   std::string text = jiffy::blocking([&] { return read_whole_file(path); });
//
// Inside a fiber, blocking(f) runs f on one of the process's helper threads
// while the calling fiber parks, so the worker runs other fibers meanwhile;
// it returns f's value (or rethrows its exception, when exceptions are
// enabled). Called from a plain thread it simply calls f. The helpers are
// a pool shared by every runtime of the process: it grows when calls wait
// and no helper is idle, up to max_threads, and a helper idle for
// keep_alive exits (as Go's threads for system calls and Tokio's
// spawn_blocking do).
//
// f runs on a plain thread: it may block, take ordinary locks and call
// anything; jiffy calls made there behave as from any plain thread.
#pragma once

#include <jiffy/detail/blocking_pool.hpp>
#include <jiffy/detail/cpu_local.hpp>
#include <jiffy/detail/diag.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#if JIFFY_EXCEPTIONS
#include <exception>
#endif

namespace jiffy {

// How the process's blocking() helpers are kept.
struct blocking_pool_options {
  unsigned max_threads = detail::blocking_pool::default_max_threads;  // 1-10000; further calls wait their turn
  std::chrono::milliseconds keep_alive{detail::blocking_pool::default_keep_alive_ns /
                                       1000000};  // an idle helper exits after this long (>= 0)
};

// A snapshot of the helpers.
struct blocking_pool_stats {
  unsigned threads = 0;       // helpers alive
  unsigned idle = 0;          // of them, waiting for a call
  unsigned queued = 0;        // calls waiting for a helper
  unsigned peak_threads = 0;  // the most helpers alive at once
  std::uint64_t calls = 0;    // blocking() calls from fibers since the process started
};

// Sets the pool's limits, for the whole process; they apply from the next
// call (helpers above a lowered max_threads exit once idle for keep_alive).
// Values out of range stop the program with a message naming them.
inline void set_blocking_pool_options(const blocking_pool_options& o) noexcept {
  using detail::message;
  if (o.max_threads < 1 || o.max_threads > 10000) {
    message m;
    detail::fatal(m.text("jiffy: blocking_pool_options::max_threads must be 1-10000, got ").number(o.max_threads));
  }
  if (o.keep_alive.count() < 0) {
    message m;
    detail::fatal(m.text("jiffy: blocking_pool_options::keep_alive must be >= 0 ms, got ")
                      .signed_number(o.keep_alive.count())
                      .text(" ms"));
  }
  detail::blocking_pool::get().set_limits(o.max_threads,
                                          std::chrono::duration_cast<std::chrono::nanoseconds>(o.keep_alive).count());
}

[[nodiscard]] inline blocking_pool_options get_blocking_pool_options() noexcept {
  auto c = detail::blocking_pool::get().snapshot();
  return {c.max_threads, std::chrono::milliseconds(c.keep_alive_ns / 1000000)};
}

[[nodiscard]] inline blocking_pool_stats get_blocking_pool_stats() noexcept {
  auto c = detail::blocking_pool::get().snapshot();
  return {c.threads, c.idle, c.queued, c.peak_threads, c.calls};
}

namespace detail {

// Where a blocking call's value waits for the fiber: in place (no heap).
template <class R>
struct blocking_result {
  std::optional<R> value;
  template <class F>
  void produce(F& f) {
    value.emplace(std::invoke(f));
  }
  R take() { return std::move(*value); }
};
template <class R>
struct blocking_result<R&> {
  R* ref = nullptr;
  template <class F>
  void produce(F& f) {
    ref = &std::invoke(f);
  }
  R& take() { return *ref; }
};
template <>
struct blocking_result<void> {
  template <class F>
  void produce(F& f) {
    std::invoke(f);
  }
  void take() {}
};

template <class F, class R>
struct blocking_call : blocking_job {
  F& f;
  blocking_result<R> result;
#if JIFFY_EXCEPTIONS
  std::exception_ptr error;
#endif
  explicit blocking_call(F& fn) noexcept : f(fn) { run = &run_on_helper; }

  static void run_on_helper(blocking_job* j) noexcept {
    auto* self = static_cast<blocking_call*>(j);
#if JIFFY_EXCEPTIONS
    try {
      self->result.produce(self->f);
    } catch (...) {
      self->error = std::current_exception();
    }
#else
    self->result.produce(self->f);
#endif
    finish_blocking_job(j);
  }

  R take() {
#if JIFFY_EXCEPTIONS
    if (error) std::rethrow_exception(error);
#endif
    return result.take();
  }
};

}  // namespace detail

// Runs f() on a helper thread while the calling fiber parks; returns its
// value (a reference stays a reference) or rethrows its exception. From a
// plain thread: calls f() here. Blocking with preemption disabled is a bug
// ("scheduling while atomic"), reported in debug builds.
template <class F>
decltype(auto) blocking(F&& f) {
  using R = std::invoke_result_t<F&>;
  if (!detail::this_cpu()->current) return static_cast<R>(std::invoke(f));
  detail::blocking_call<std::remove_reference_t<F>, R> call(f);
  detail::run_blocking_job(call);
  return static_cast<R>(call.take());
}

}  // namespace jiffy
