// The scheduler: spawning, joining, stealing, idling, shutting down.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <array>
#include <set>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// The core behaviour tests run on 1, 2, 4 and 8 workers (test::on_workers,
// support.hpp): one worker, as many as the CI machines' cores, and more.

TEST_CASE_TEMPLATE_DEFINE("block_on runs a function as a fiber on one of the runtime's workers and returns its value",
                          W, block_on_value) {
  constexpr unsigned n = W::count;
  test::watchdog wd(60s, "block_on");
  jiffy::runtime rt({.workers = n});
  CHECK(rt.workers() == n);
  int v = rt.block_on([] { return jiffy::this_fiber::in_fiber() ? 42 : -1; });
  CHECK(v == 42);
  std::string s = rt.block_on([] { return std::string("from a fiber"); });
  CHECK(s == "from a fiber");
  bool ran = false;
  rt.block_on([&] { ran = jiffy::this_fiber::worker_index() < n; });
  CHECK(ran);
  // Called from one of the runtime's fibers, block_on parks only that fiber:
  // on a single worker the inner function runs where the caller was.
  int nested = rt.block_on([&] { return rt.block_on([] { return 5; }) + 1; });
  CHECK(nested == 6);
}
TEST_CASE_TEMPLATE_APPLY(block_on_value, test::one_to_eight_workers);

TEST_CASE("a default runtime has one worker per hardware thread") {
  jiffy::runtime rt;
  unsigned hw = std::thread::hardware_concurrency();
  CHECK(rt.workers() == (hw ? hw : 1));
  CHECK(rt.options().preempt == jiffy::preempt_mode::full);
}

#if JIFFY_EXCEPTIONS
TEST_CASE_TEMPLATE_DEFINE("block_on rethrows the function's exception", W, block_on_throws) {
  jiffy::runtime rt({.workers = W::count});
  CHECK_THROWS_WITH_AS(rt.block_on([]() -> int { throw std::runtime_error("boom"); }), "boom", std::runtime_error);
  CHECK(rt.block_on([] { return 7; }) == 7);  // the runtime is unharmed
}
TEST_CASE_TEMPLATE_APPLY(block_on_throws, test::one_to_eight_workers);
#endif

TEST_CASE_TEMPLATE_DEFINE(
    "spawned fibers run on the runtime's workers, join from threads and from fibers, and carry distinct ids", W,
    spawn_join) {
  constexpr unsigned n = W::count;
  test::watchdog wd(60s, "spawn/join");
  jiffy::runtime rt({.workers = n, .preempt = jiffy::preempt_mode::none});
  std::atomic<int> ran{0}, elsewhere{0};
  std::vector<jiffy::fiber> fs;
  std::set<std::uint64_t> ids;
  for (int i = 0; i < 100; ++i) {
    fs.push_back(rt.spawn([&] {
      if (jiffy::this_fiber::worker_index() >= n) ++elsewhere;
      ++ran;
    }));
    ids.insert(fs.back().id());
  }
  CHECK(ids.size() == 100);
  for (auto& f : fs) {
    CHECK(f.joinable());
    f.join();
    CHECK_FALSE(f.joinable());
  }
  CHECK(ran.load() == 100);
  CHECK(elsewhere.load() == 0);
  int inner = rt.block_on([] {
    std::atomic<int> kids_ran{0};
    std::vector<jiffy::fiber> kids;
    for (int i = 0; i < 100; ++i) kids.push_back(jiffy::spawn([&] { ++kids_ran; }));
    for (auto& k : kids) k.join();
    return kids_ran.load();
  });
  CHECK(inner == 100);
}
TEST_CASE_TEMPLATE_APPLY(spawn_join, test::one_to_eight_workers);

TEST_CASE("fiber handles move like std::thread") {
  jiffy::runtime rt({.workers = 1});
  jiffy::fiber a = rt.spawn([] {});
  jiffy::fiber b = std::move(a);
  CHECK_FALSE(a.joinable());
  CHECK(b.joinable());
  jiffy::fiber c;
  c = std::move(b);
  c.join();
}

TEST_CASE_TEMPLATE_DEFINE("destroying a runtime waits for fibers detached by threads and by fibers", W, detach) {
  test::watchdog wd(60s, "runtime destructor");
  std::atomic<int> finished{0};
  {
    jiffy::runtime rt({.workers = W::count});
    auto body = [&] {
      jiffy::this_fiber::sleep_for(2ms);
      jiffy::this_fiber::yield();
      ++finished;
    };
    for (int i = 0; i < 25; ++i) rt.spawn(body).detach();
    rt.block_on([&] {
      for (int i = 0; i < 25; ++i) jiffy::spawn(body).detach();
    });
  }
  CHECK(finished.load() == 50);
}
TEST_CASE_TEMPLATE_APPLY(detach, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("a runtime may stop while the plain thread that woke its last fiber is still in the wake-up",
                          W, foreign_waker) {
  // The waker queues the fiber, then goes on waking a worker and asking for
  // a preemption; meanwhile the fiber may finish and the runtime stop. The
  // runtime must wait for the waker, not free what it still uses (a crash,
  // or an AddressSanitizer report, about once in twenty rounds without).
  test::watchdog wd(120s, "runtime stop beside a foreign waker");
  for (int round = 0; round < test::scale(300); ++round) {
    jiffy::wait_group wg(1);
    std::thread waker;
    {
      jiffy::runtime rt({.workers = W::count});
      waker = std::thread([&] { wg.done(); });
      CHECK(rt.block_on([&] {
        wg.wait();
        return wg.count();
      }) == 0);
    }
    waker.join();
  }
}
TEST_CASE_TEMPLATE_APPLY(foreign_waker, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("work spreads across workers: a fiber blocked behind a busy one is stolen", W, steal_one) {
  test::watchdog wd(60s, "stealing");
  jiffy::runtime rt({.workers = W::count, .preempt = jiffy::preempt_mode::none});
  std::atomic<bool> release{false};
  std::atomic<unsigned> hog_worker{99}, other_worker{99};
  rt.block_on([&] {
    // The hog never yields until the second fiber has run; once it runs,
    // the second can only run if another worker takes it. A new child runs
    // next where it was spawned: this fiber yields until the hog has
    // started, and goes on elsewhere (stolen) unless the hog was.
    jiffy::fiber hog = jiffy::spawn([&] {
      hog_worker = jiffy::this_fiber::worker_index();
      while (!release.load()) {
      }
    });
    while (hog_worker.load() == 99) jiffy::this_fiber::yield();
    jiffy::fiber other = jiffy::spawn([&] {
      other_worker = jiffy::this_fiber::worker_index();
      release = true;
    });
    hog.join();
    other.join();
  });
  CHECK(release.load());
  CHECK(hog_worker.load() != other_worker.load());
  CHECK(rt.stats().fibers_finished >= 3);
}
TEST_CASE_TEMPLATE_APPLY(steal_one, test::two_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("work spreads to every worker: as many never-yielding fibers as workers all run at once", W,
                          steal_all) {
  constexpr unsigned n = W::count;
  test::watchdog wd(120s, "spreading");
  jiffy::runtime rt({.workers = n, .preempt = jiffy::preempt_mode::none});
  std::atomic<unsigned> started{0}, saw_all{0};
  std::array<std::atomic<unsigned>, n> ran_on{};
  rt.block_on([&] {
    // All n land in this worker's run queue. Each spins, never yielding,
    // until all n have started: only possible if each worker took one.
    std::vector<jiffy::fiber> fs;
    for (unsigned i = 0; i < n; ++i)
      fs.push_back(jiffy::spawn([&, i] {
        ran_on[i] = jiffy::this_fiber::worker_index();
        ++started;
        auto give_up = std::chrono::steady_clock::now() + 20s;
        while (started.load() < n && std::chrono::steady_clock::now() < give_up) {
        }
        if (started.load() == n) ++saw_all;
      }));
    for (auto& f : fs) f.join();
  });
  CHECK(saw_all.load() == n);
  std::set<unsigned> workers_used;
  for (auto& w : ran_on) workers_used.insert(w.load());
  CHECK(workers_used.size() == n);
  CHECK(rt.stats().steals >= 1);
}
TEST_CASE_TEMPLATE_APPLY(steal_all, test::two_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE(
    "fibers spawned from many threads at once all run, yielding as they go, and join from those threads", W,
    spawn_from_threads) {
  test::watchdog wd(120s, "spawn from threads");
  jiffy::runtime rt({.workers = W::count, .preempt = jiffy::preempt_mode::none});
  std::atomic<int> total{0};
  std::vector<std::thread> spawners;
  for (int t = 0; t < 4; ++t)
    spawners.emplace_back([&] {
      std::vector<jiffy::fiber> fs;
      for (int i = 0; i < test::scale(500); ++i)
        fs.push_back(rt.spawn([&] {
          for (int k = 0; k < 20; ++k) jiffy::this_fiber::yield();
          ++total;
        }));
      for (auto& f : fs) f.join();
    });
  for (auto& s : spawners) s.join();
  CHECK(total.load() == 4 * test::scale(500));
}
TEST_CASE_TEMPLATE_APPLY(spawn_from_threads, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("yield lets every runnable fiber run, with more busy-waiting fibers than workers", W, yield) {
  constexpr unsigned n = W::count;
  test::watchdog wd(120s, "yield");
  jiffy::runtime rt({.workers = n, .preempt = jiffy::preempt_mode::none});
  // Each fiber waits, yielding, until all have started. Without preemption
  // the fibers beyond the first n start only if yield gives way to them.
  const unsigned fibers = 2 * n + 1;
  std::atomic<unsigned> started{0}, saw_all{0};
  std::vector<jiffy::fiber> fs;
  for (unsigned i = 0; i < fibers; ++i)
    fs.push_back(rt.spawn([&] {
      ++started;
      auto give_up = std::chrono::steady_clock::now() + 20s;
      while (started.load() < fibers && std::chrono::steady_clock::now() < give_up) jiffy::this_fiber::yield();
      if (started.load() == fibers) ++saw_all;
    }));
  for (auto& f : fs) f.join();
  CHECK(saw_all.load() == fibers);
}
TEST_CASE_TEMPLATE_APPLY(yield, test::one_to_eight_workers);

TEST_CASE("idle workers park and burn no CPU") {
  jiffy::runtime rt({.workers = 2});
  rt.block_on([] {});
  REQUIRE(test::wait_until([&] { return rt.stats().worker_sleeps >= 2; }));  // both have gone to sleep once
  std::this_thread::sleep_for(50ms);
  long used = test::cpu_us_used_while([] { std::this_thread::sleep_for(500ms); });
  // Two spinning workers would burn ~1,000,000 µs here; parked ones ~0.
  CHECK(used < 100000);
  MESSAGE("CPU time used by an idle 2-worker runtime in 500 ms: " << used << " µs");
}

TEST_CASE_TEMPLATE_DEFINE("sleep_for and sleep_until wait at least as long as asked, on fibers and threads", W, sleep) {
  constexpr unsigned n = W::count;
  test::watchdog wd(60s, "sleep");
  jiffy::runtime rt({.workers = n});
  auto measure = [] {
    auto t0 = std::chrono::steady_clock::now();
    jiffy::this_fiber::sleep_for(20ms);
    auto t1 = std::chrono::steady_clock::now();
    jiffy::this_fiber::sleep_until(std::chrono::system_clock::now() + 10ms);
    auto t2 = std::chrono::steady_clock::now();
    return std::pair{t1 - t0, t2 - t1};
  };
  auto [fa, fb] = rt.block_on(measure);
  CHECK(fa >= 20ms);
  CHECK(fb >= 9ms);  // system_clock to steady_clock conversion may lose a little
  auto [ta, tb] = measure();
  CHECK(ta >= 20ms);
  CHECK(tb >= 9ms);
  // Many sleepers at once, their timers spread over the workers: each wakes,
  // and none before its time.
  const int sleepers = 8 * static_cast<int>(n);
  std::atomic<int> woke{0}, early{0};
  std::vector<jiffy::fiber> fs;
  for (int i = 0; i < sleepers; ++i)
    fs.push_back(rt.spawn([&, i] {
      auto asked = std::chrono::milliseconds(1 + i % 10);
      auto t0 = std::chrono::steady_clock::now();
      if (i % 2)
        jiffy::this_fiber::sleep_for(asked);
      else
        jiffy::this_fiber::sleep_until(t0 + asked);
      if (std::chrono::steady_clock::now() - t0 < asked) ++early;
      ++woke;
    }));
  for (auto& f : fs) f.join();
  CHECK(woke.load() == sleepers);
  CHECK(early.load() == 0);
}
TEST_CASE_TEMPLATE_APPLY(sleep, test::one_to_eight_workers);

namespace {
// Ten fibers, spawned last-first, sleep until base + i * spacing and record
// the order they woke in. They start first and wait at a gate; the base is
// taken once all have started, so the deadlines lie ahead of every fiber.
// With `busy_past_deadlines` the calling fiber computes until every deadline
// has passed, so all ten timers fire in one pass.
//
// The premise is that every fiber arms its timer before its deadline: a
// fiber whose deadline has already passed does not sleep at all (it yields)
// and runs in queue order. A host that stalls the worker for the 20 ms
// margin (loaded qemu does) breaks the premise, not the timers; such a run
// sets `premise_broken` and proves nothing.
struct wake_run {
  std::vector<int> order;
  bool premise_broken = false;
};
wake_run wake_order(jiffy::runtime& rt, std::chrono::microseconds spacing, bool busy_past_deadlines) {
  wake_run run;
  rt.block_on([&] {
    // Plain variables: one worker under preempt_mode::none runs one fiber
    // at a time and switches only where a fiber lets it.
    int started = 0, armed = 0;
    bool go = false;
    std::chrono::steady_clock::time_point base;
    std::vector<jiffy::fiber> fs;
    for (int i = 9; i >= 0; --i)
      fs.push_back(jiffy::spawn([&, i] {
        ++started;
        while (!go) jiffy::this_fiber::yield();
        ++armed;
        jiffy::this_fiber::sleep_until(base + spacing * i);
        run.order.push_back(i);
      }));
    while (started < 10) jiffy::this_fiber::yield();
    base = std::chrono::steady_clock::now() + 20ms;
    go = true;
    // Queued behind all ten, this fiber runs again once each has gone to
    // sleep: if that is still before the first deadline, every timer was
    // armed in time.
    while (armed < 10) jiffy::this_fiber::yield();
    if (std::chrono::steady_clock::now() >= base) run.premise_broken = true;
    if (busy_past_deadlines) {
      while (std::chrono::steady_clock::now() < base + spacing * 10 + 10ms) {
      }
    }
    for (auto& f : fs) f.join();
  });
  return run;
}

// The wake order as digits ("0123456789"), so that a failure shows it; a
// few tries, for runs a stalled host spoiled (see wake_run).
std::string wake_order_digits(jiffy::runtime& rt, std::chrono::microseconds spacing, bool busy_past_deadlines) {
  wake_run run;
  for (int attempt = 0; attempt < 5; ++attempt) {
    run = wake_order(rt, spacing, busy_past_deadlines);
    if (!run.premise_broken) break;
  }
  CHECK_MESSAGE(!run.premise_broken, "in every try the first deadline passed before all ten fibers slept");
  std::string s;
  for (int i : run.order) s += std::to_string(i);
  return s;
}

}  // namespace

// Under `none`, so that the worker alone fires its timers and nothing
// preempts: under `full` the monitor fires a busy worker's timers and each
// wake-up may preempt the fiber woken just before it — before that one has
// recorded itself (a fair slice is timed in wall time, so a fiber the host
// descheduled for a few ms counts as having used it), and in the middle of
// the unsynchronised push_back (qemu under load: entries lost, heap
// corrupted). That is the order fibers run in, not the order timers fire.
TEST_CASE("many sleeping fibers wake in deadline order on one worker, also when their timers expire together") {
  test::watchdog wd(60s, "timers");
  jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none});
  SUBCASE("deadlines apart") { CHECK(wake_order_digits(rt, 5ms, false) == "0123456789"); }
  SUBCASE("deadlines that pass while the worker is busy, fired in one go") {
    CHECK(wake_order_digits(rt, 1us, true) == "0123456789");
  }
}

TEST_CASE("a steady_clock deadline keeps its exact instant, so deadlines a microsecond apart keep their order") {
  using namespace std::chrono;
  auto base = steady_clock::now() + 20ms;
  for (int i = 0; i < 10; ++i) {
    auto t = base + microseconds(i);
    CHECK(jiffy::detail::to_monotonic_ns(t) == duration_cast<nanoseconds>(t.time_since_epoch()).count());
  }
  // Far-off instants saturate to "forever" instead of overflowing.
  CHECK(jiffy::detail::to_monotonic_ns(jiffy::no_deadline) == jiffy::detail::no_deadline_ns);
  CHECK(jiffy::detail::to_monotonic_ns(time_point<steady_clock, hours>::max()) == jiffy::detail::no_deadline_ns);
  // Another clock's instant is placed by its distance from now.
  auto in_a_second = jiffy::detail::to_monotonic_ns(system_clock::now() + 1s) - jiffy::detail::now_ns();
  CHECK(in_a_second > 900'000'000);
  CHECK(in_a_second <= 1'000'000'000);
}

TEST_CASE("two runtimes in one process are independent") {
  test::watchdog wd(60s, "two runtimes");
  jiffy::runtime a({.workers = 1}), b({.workers = 2});
  auto fa = a.spawn([&] { return; });
  int from_b = b.block_on([] { return static_cast<int>(jiffy::this_fiber::worker_index()) + 100; });
  fa.join();
  CHECK(from_b >= 100);
  CHECK(from_b <= 101);
  // A fiber of one runtime may spawn into and wait on the other.
  int cross = a.block_on([&] { return b.block_on([] { return 5; }); });
  CHECK(cross == 5);
}

TEST_CASE("stats count what happened") {
  jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none});
  rt.block_on([] {
    auto f = jiffy::spawn([] {
      for (int i = 0; i < 10; ++i) jiffy::this_fiber::yield();
    });
    for (int i = 0; i < 10; ++i) jiffy::this_fiber::yield();
    f.join();
  });
  auto s = rt.stats();
  CHECK(s.fibers_finished == 2);
  CHECK(s.yields >= 10);
  CHECK(s.context_switches >= 20);
  CHECK(s.preemptions == 0);
}
