// jiffy::blocking(): blocking work runs on the process's helper threads
// while the calling fiber parks, so its worker keeps running other fibers;
// values, references and exceptions come back; the pool grows on demand, is
// bounded, and shrinks when idle.
//
// The helper pool is shared by the whole process (and so by every test
// here); a test that changes its options restores the defaults.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// When a test ends: lets every helper go (so later tests, which fork, find
// no stray threads) and restores the pool's default options.
struct pool_drained_after {
  ~pool_drained_after() {
    jiffy::set_blocking_pool_options({.keep_alive = 0ms});
    CHECK(test::wait_until([] { return jiffy::get_blocking_pool_stats().threads == 0; }));
    jiffy::set_blocking_pool_options({});
  }
};

}  // namespace

TEST_CASE("blocking returns the call's value, a reference or nothing, computed off the worker's thread") {
  pool_drained_after drain;
  jiffy::runtime rt({.workers = 1});
  rt.block_on([] {
    auto worker_thread = std::this_thread::get_id();
    auto helper_thread = jiffy::blocking([] { return std::this_thread::get_id(); });
    CHECK(helper_thread != worker_thread);
    CHECK(jiffy::blocking([] { return std::string(100, 'x'); }) == std::string(100, 'x'));
    auto owned = jiffy::blocking([] { return std::make_unique<int>(42); });  // move-only
    REQUIRE(owned);
    CHECK(*owned == 42);
    int target = 1;
    int& same = jiffy::blocking([&]() -> int& { return target; });
    CHECK(&same == &target);
    bool ran = false;
    jiffy::blocking([&] { ran = true; });
    CHECK(ran);
  });
}

TEST_CASE("a fiber in blocking() leaves its worker free: the other fibers of a one-worker runtime run meanwhile") {
  pool_drained_after drain;
  test::watchdog wd(60s, "blocking leaves the worker free");
  jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none});
  std::atomic<bool> in_call{false}, seen_by_other{false}, done{false};
  auto other = rt.spawn([&] {
    while (!done.load()) {
      if (in_call.load()) seen_by_other = true;
      jiffy::this_fiber::yield();
    }
  });
  rt.block_on([&] {
    // The call sleeps 200 ms, then waits (bounded) until the other fiber has
    // run during it: with the worker stalled in the call it never could.
    bool other_ran = jiffy::blocking([&] {
      in_call = true;
      std::this_thread::sleep_for(200ms);
      bool ok = test::wait_until([&] { return seen_by_other.load(); });
      in_call = false;
      return ok;
    });
    CHECK(other_ran);
  });
  done = true;
  other.join();
}

#if JIFFY_EXCEPTIONS
TEST_CASE("an exception thrown by the blocking call is rethrown in the calling fiber") {
  pool_drained_after drain;
  jiffy::runtime rt({.workers = 2});
  rt.block_on([] {
    CHECK_THROWS_WITH_AS(jiffy::blocking([]() -> int { throw std::runtime_error("disk on fire"); }), "disk on fire",
                         std::runtime_error);
    CHECK(jiffy::blocking([] { return 7; }) == 7);  // the fiber and the pool carry on
  });
}
#endif

TEST_CASE("from a plain thread, blocking() calls the function on that thread") {
  auto here = std::this_thread::get_id();
  CHECK(jiffy::blocking([] { return std::this_thread::get_id(); }) == here);
}

TEST_CASE("the helper pool grows to run waiting calls at once, never beyond max_threads, and shrinks when idle") {
  test::watchdog wd(60s, "blocking pool growth");
  pool_drained_after drain;
  jiffy::set_blocking_pool_options({.max_threads = 3, .keep_alive = 50ms});
  CHECK(jiffy::get_blocking_pool_options().max_threads == 3);
  CHECK(jiffy::get_blocking_pool_options().keep_alive == 50ms);
  jiffy::runtime rt({.workers = 2});
  constexpr int calls = 6;
  std::atomic<int> running{0}, peak{0}, finished{0};
  std::atomic<bool> release{false};
  std::vector<jiffy::fiber> fibers;
  for (int i = 0; i < calls; ++i)
    fibers.push_back(rt.spawn([&] {
      jiffy::blocking([&] {
        int now = running.fetch_add(1) + 1;
        for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
        }
        (void)test::wait_until([&] { return release.load(); });
        running.fetch_sub(1);
        finished.fetch_add(1);
      });
    }));
  // Three calls run at once (the pool grew for them), three wait their turn.
  REQUIRE(test::wait_until([&] { return running.load() == 3 && jiffy::get_blocking_pool_stats().queued == 3; }));
  auto during = jiffy::get_blocking_pool_stats();
  CHECK(during.threads == 3);
  CHECK(during.idle == 0);
  release = true;
  for (auto& f : fibers) f.join();
  CHECK(finished.load() == calls);
  CHECK(peak.load() == 3);
  CHECK(jiffy::get_blocking_pool_stats().peak_threads >= 3);
  // Idle for keep_alive, the helpers exit.
  CHECK(test::wait_until([] { return jiffy::get_blocking_pool_stats().threads == 0; }));
  // ...and a new call starts one again.
  rt.block_on([] { CHECK(jiffy::blocking([] { return 5; }) == 5); });
}

TEST_CASE("many fibers on several workers each make many blocking calls, and every call returns its own value") {
  pool_drained_after drain;
  test::watchdog wd(120s, "blocking stress");
  jiffy::runtime rt({.workers = 4, .quantum = 100us});
  const int fibers_n = 32, per_fiber = test::scale(200);
  std::atomic<long> sum{0};
  std::vector<jiffy::fiber> fibers;
  for (int i = 0; i < fibers_n; ++i)
    fibers.push_back(rt.spawn([&, i] {
      for (int k = 0; k < per_fiber; ++k) sum += jiffy::blocking([=] { return i * 1000 + k; });
    }));
  for (auto& f : fibers) f.join();
  long expect = 0;
  for (int i = 0; i < fibers_n; ++i)
    for (int k = 0; k < per_fiber; ++k) expect += i * 1000 + k;
  CHECK(sum.load() == expect);
}

TEST_CASE("bad blocking_pool_options stop with a message naming the field and the value") {
  auto r = test::run_in_child([] { jiffy::set_blocking_pool_options({.max_threads = 0}); });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: blocking_pool_options::max_threads must be 1-10000, got 0") != std::string::npos);
  r = test::run_in_child([] { jiffy::set_blocking_pool_options({.keep_alive = -5ms}); });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: blocking_pool_options::keep_alive must be >= 0 ms, got -5 ms") != std::string::npos);
}
