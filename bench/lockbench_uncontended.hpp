// bench/lockbench_uncontended.hpp — lockbench.hpp's uncontended
// measurement: lock()+unlock() pairs on one thread, in batches (see the top
// of lockbench.hpp). Included at the end of lockbench.hpp; include that.
// (Split from it to keep each file short.)
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace lockbench {

namespace detail {

template <class Handle>
[[gnu::noinline]] void lock_unlock_pairs(Handle& h, std::uint64_t n) {
  if constexpr (requires { h.lock_unlock_loop(n); }) {
    h.lock_unlock_loop(n);
  } else {
    for (std::uint64_t i = 0; i < n; ++i) {
      h.lock();
      h.unlock();
    }
  }
}

// glibc skips atomic instructions in its locks while a process has never
// started a second thread (__libc_single_threaded); a program that contends
// for locks has. Start and join one, once, so std::mutex and pthread locks
// are measured as such a program sees them.
inline void leave_single_threaded_mode() {
  static const bool done = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)done;
}

}  // namespace detail

// lock()+unlock() pairs on one thread for about `budget` (at least 5 batches).
template <class Lock>
uncontended_result measure_uncontended(Lock& lock, std::chrono::milliseconds budget = std::chrono::milliseconds(100)) {
  constexpr std::uint64_t batch = 10000;
  detail::leave_single_threaded_mode();
  auto h = detail::make_handle(lock);
  detail::lock_unlock_pairs(h, batch);  // warm up
  std::vector<double> per_pair;
  std::uint64_t until =
      bench::ticks_stop() + static_cast<std::uint64_t>(static_cast<double>(budget.count()) * 1e6 * ticks_per_ns());
  while (per_pair.size() < 5 || bench::ticks_stop() < until) {
    std::uint64_t t0 = bench::ticks_start();
    detail::lock_unlock_pairs(h, batch);
    per_pair.push_back(static_cast<double>(bench::ticks_stop() - t0) / batch);
  }
  uncontended_result r;
  r.pairs = per_pair.size() * batch;
  r.ticks_best = *std::min_element(per_pair.begin(), per_pair.end());
  r.ticks_median = bench::median(per_pair);
  r.ns_best = to_ns(r.ticks_best);
  r.ns_median = to_ns(r.ticks_median);
  return r;
}

template <class Lock>
uncontended_result measure_uncontended(std::chrono::milliseconds budget = std::chrono::milliseconds(100)) {
  auto p = std::make_unique<detail::padded<Lock>>();
  return measure_uncontended(p->lock, budget);
}

}  // namespace lockbench
