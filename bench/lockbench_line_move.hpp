// bench/lockbench_line_move.hpp — the cost of moving a lock's cache line:
// an uncontended lock() on one CPU when the lock was last taken and
// released on another (libslock's and SSYNC's "line in another core's
// cache" figure), against the same lock() when this CPU released it last.
//
// How: two threads, pinned, take turns through a flag on a line of its
// own. The writer (on `from`) takes and releases the lock, which leaves its
// line modified in that CPU's cache, and hands the turn over; the measurer
// (on `on`) times one lock() (fenced counter reads around it, as every
// lockbench acquisition), releases it and hands the turn back. With
// from == on there is no second thread: the measurer takes and releases the
// lock itself before each timed lock(). Each round is one sample; the
// result holds the best (fastest) and the median sample, in ns and ticks
// (uncontended_result's fields, `pairs` the number of samples). The time
// stamps' own cost is in both figures alike: read the difference.
#pragma once

#include "lockbench.hpp"

#include <jiffy/detail/raw_spinlock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
#include <thread>
#include <vector>

namespace lockbench {

namespace detail {
struct alignas(128) turn_flag {
  std::atomic<int> turn{0};  // 0: the writer's, 1: the measurer's, 2: stop
};

// One timed lock() (then unlock()) on h, in ticks.
template <class Handle>
std::uint64_t timed_lock(Handle& h) {
  std::uint64_t t0 = bench::ticks_start();
  h.lock();
  std::uint64_t t1 = bench::ticks_stop();
  h.unlock();
  return t1 - t0;
}
}  // namespace detail

template <class Lock>
uncontended_result measure_line_move(Lock& lock, int from, int on, std::chrono::milliseconds budget) {
  detail::leave_single_threaded_mode();
  std::vector<std::uint64_t> samples;
  auto until = std::chrono::steady_clock::now() + budget;
  auto enough = [&] {  // at least 1000 samples; the clock read every 256
    return samples.size() >= 1000 && samples.size() % 256 == 0 && std::chrono::steady_clock::now() >= until;
  };
  std::thread measurer([&] {
    detail::pin_this_thread(on);
    auto h = detail::make_handle(lock);
    if (from == on) {
      while (!enough()) {
        h.lock();
        h.unlock();
        samples.push_back(detail::timed_lock(h));
      }
      return;
    }
    detail::turn_flag flag;
    std::thread writer([&] {
      detail::pin_this_thread(from);
      auto w = detail::make_handle(lock);
      for (;;) {
        int t;
        while ((t = flag.turn.load(std::memory_order_acquire)) == 1) jiffy::detail::cpu_relax();
        if (t == 2) return;
        w.lock();
        w.unlock();
        flag.turn.store(1, std::memory_order_release);
      }
    });
    while (!enough()) {
      while (flag.turn.load(std::memory_order_acquire) != 1) jiffy::detail::cpu_relax();
      samples.push_back(detail::timed_lock(h));
      flag.turn.store(0, std::memory_order_release);
    }
    while (flag.turn.load(std::memory_order_acquire) != 1) jiffy::detail::cpu_relax();
    flag.turn.store(2, std::memory_order_release);
    writer.join();
  });
  measurer.join();
  std::sort(samples.begin(), samples.end());
  uncontended_result r;
  r.pairs = samples.size();
  r.ticks_best = static_cast<double>(samples.front());
  r.ticks_median = static_cast<double>(samples[samples.size() / 2]);
  r.ns_best = to_ns(r.ticks_best);
  r.ns_median = to_ns(r.ticks_median);
  return r;
}

template <class Lock>
uncontended_result measure_line_move(int from, int on, std::chrono::milliseconds budget) {
  auto p = std::make_unique<detail::padded<Lock>>();
  return measure_line_move(p->lock, from, on, budget);
}

}  // namespace lockbench
