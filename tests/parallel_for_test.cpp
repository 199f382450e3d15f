// parallel_for: every index exactly once for any range and grain, spread
// over the workers, with the caller's scheduling class, nested, from plain
// threads, exceptions rethrown, bad arguments named.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Counts calls per index in [0, n).
struct index_tally {
  explicit index_tally(std::size_t n) : n_(n), hits_(new std::atomic<std::uint32_t>[n]) {
    for (std::size_t i = 0; i < n; ++i) hits_[i] = 0;
  }
  void hit(std::size_t i) {
    if (i < n_)
      hits_[i].fetch_add(1, std::memory_order_relaxed);
    else
      out_of_range_.fetch_add(1, std::memory_order_relaxed);
  }
  // The first index not hit exactly once, or n when every one was (and no
  // call was given an index outside the range).
  std::size_t first_wrong() const {
    for (std::size_t i = 0; i < n_; ++i)
      if (hits_[i].load() != 1) return i;
    return out_of_range_.load() ? n_ + 1 : n_;
  }

 private:
  std::size_t n_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> hits_;
  std::atomic<std::size_t> out_of_range_{0};
};

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("parallel_for calls f exactly once for every index, for any range size and grain", W,
                          covers_every_index) {
  test::watchdog wd(120s, "parallel_for coverage");
  jiffy::runtime rt({.workers = W::count});
  const std::size_t huge = static_cast<std::size_t>(test::scale(1 << 20));
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1009}, huge})
    for (std::size_t grain : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{64}, n + 5}) {
      CAPTURE(n);
      CAPTURE(grain);
      if (n == huge && grain == 1) continue;  // a million one-index chunks: slow under sanitizers, nothing new
      index_tally tally(n);
      rt.block_on([&] {
        jiffy::parallel_for(
            std::size_t{0}, n, [&](std::size_t i) { tally.hit(i); }, grain);
      });
      CHECK(tally.first_wrong() == n);
    }
}
TEST_CASE_TEMPLATE_APPLY(covers_every_index, test::one_to_eight_workers);

TEST_CASE("parallel_for handles signed ranges, empty and reversed ranges, and ranges at the type's limits") {
  jiffy::runtime rt({.workers = 2});
  rt.block_on([] {
    std::atomic<long> sum{0};
    std::atomic<int> calls{0};
    jiffy::parallel_for(-50, 50, [&](int i) {
      sum += i;
      ++calls;
    });
    CHECK(calls.load() == 100);
    CHECK(sum.load() == -50);
    calls = 0;
    jiffy::parallel_for(10, 10, [&](int) { ++calls; });
    jiffy::parallel_for(10, -10, [&](int) { ++calls; });  // last before first: empty
    CHECK(calls.load() == 0);
    std::atomic<std::int64_t> low{0};
    jiffy::parallel_for(INT_MIN, INT_MIN + 100, [&](int i) {
      CHECK(i < INT_MIN + 100);
      ++calls;
      low += static_cast<std::int64_t>(i) - INT_MIN;
    });
    CHECK(calls.load() == 100);
    CHECK(low.load() == 99 * 100 / 2);
    calls = 0;
    constexpr auto top = std::numeric_limits<std::uint64_t>::max();
    jiffy::parallel_for(top - 10, top, [&](std::uint64_t i) {
      CHECK(i >= top - 10);
      CHECK(i < top);
      ++calls;
    });
    CHECK(calls.load() == 10);
  });
}

TEST_CASE("nested parallel_for calls cover the product of their ranges exactly once") {
  test::watchdog wd(60s, "nested parallel_for");
  jiffy::runtime rt({.workers = 4});
  index_tally tally(16 * 64);
  rt.block_on([&] {
    jiffy::parallel_for(0, 16, [&](int outer) {
      jiffy::parallel_for(
          0, 64, [&](int inner) { tally.hit(static_cast<std::size_t>(outer * 64 + inner)); }, 4);
    });
  });
  CHECK(tally.first_wrong() == 16 * 64);
}

TEST_CASE_TEMPLATE_DEFINE("parallel_for runs chunks on more than one worker when there are several", W, spreads) {
  test::watchdog wd(60s, "parallel_for spread");
  jiffy::runtime rt({.workers = W::count});
  std::atomic<std::uint32_t> seen_mask{0};
  rt.block_on([&] {
    jiffy::parallel_for(
        0, 64,
        [&](int) {
      // Every call waits (bounded) until a second worker has run a chunk
      // (noting where it runs each turn: a fiber may be stolen mid-call):
      // with the work stuck on one worker, that never happens.
      auto end = std::chrono::steady_clock::now() + 20s;
      do {
        seen_mask.fetch_or(1u << jiffy::this_fiber::worker_index());
        jiffy::this_fiber::yield();
      } while (__builtin_popcount(seen_mask.load()) < 2 && std::chrono::steady_clock::now() < end);
        },
        1);
  });
  CHECK(__builtin_popcount(seen_mask.load()) >= 2);
}
TEST_CASE_TEMPLATE_APPLY(spreads, test::two_to_eight_workers);

TEST_CASE("parallel_for runs f with the calling fiber's scheduling class") {
  jiffy::runtime rt({.workers = 2});
  std::atomic<int> wrong{0}, calls{0};
  rt.spawn({.policy = jiffy::sched_policy::fifo, .priority = 30}, [&] {
      jiffy::parallel_for(
          0, 200,
          [&](int) {
      ++calls;
      if (jiffy::this_fiber::get_scheduler() != jiffy::sched_policy::fifo || jiffy::this_fiber::get_priority() != 30)
        ++wrong;
          },
          1);
    }).join();
  CHECK(calls.load() == 200);
  CHECK(wrong.load() == 0);
}

TEST_CASE("runtime::parallel_for works from a plain thread") {
  jiffy::runtime rt({.workers = 2});
  index_tally tally(5000);
  rt.parallel_for(0, 5000, [&](int i) { tally.hit(static_cast<std::size_t>(i)); });
  CHECK(tally.first_wrong() == 5000);
}

#if JIFFY_EXCEPTIONS
TEST_CASE("an exception thrown by f is rethrown to the parallel_for caller, and the runtime carries on") {
  jiffy::runtime rt({.workers = 2});
  CHECK_THROWS_WITH_AS(rt.parallel_for(
                           0, 1000,
                           [](int i) {
    if (i == 500) throw std::runtime_error("index 500");
                           }),
                       "index 500", std::runtime_error);
  std::atomic<int> calls{0};
  rt.parallel_for(0, 100, [&](int) { ++calls; });
  CHECK(calls.load() == 100);
}
#endif

TEST_CASE("parallel_for misuse stops with a message naming it") {
  auto r = test::run_in_child([] { jiffy::parallel_for(0, 10, [](int) {}); });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy::parallel_for() called outside a fiber (use runtime::parallel_for())") != std::string::npos);
  r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.parallel_for(
        0, 10, [](int) {}, -3);
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: runtime::parallel_for(): grain must be >= 0 (0: automatic), got -3") != std::string::npos);
}
