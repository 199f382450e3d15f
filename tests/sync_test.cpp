// mutex, condition_variable, wait_group: fibers and plain threads, mixed.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <deque>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
// A counter that detects overlapping critical sections, not only lost updates.
struct exclusive_counter {
  std::atomic<int> inside{0};
  long value = 0;
  std::atomic<int> overlaps{0};
  std::atomic<int> sink{0};
  void enter_and_bump() {
    if (inside.fetch_add(1) != 0) ++overlaps;
    ++value;
    // Stay inside a little: a second holder would be caught, not slip by.
    for (int i = 0; i < 20; ++i) sink.fetch_add(1, std::memory_order_relaxed);
    inside.fetch_sub(1);
  }
};
}  // namespace

// The core behaviour tests run on 1, 2, 4 and 8 workers (test::on_workers,
// support.hpp): one worker, as many as the CI machines' cores, and more.

TEST_CASE_TEMPLATE_DEFINE("mutex excludes fibers and plain threads, all on one lock", W, mutex_exclusion) {
  test::watchdog wd(120s, "mutex exclusion");
  jiffy::runtime rt({.workers = W::count, .preempt = jiffy::preempt_mode::none});
  jiffy::mutex m;
  exclusive_counter c;
  const int per = test::scale(2000);
  std::vector<jiffy::fiber> fs;
  for (int i = 0; i < 16; ++i)
    fs.push_back(rt.spawn([&, i] {
      for (int k = 0; k < per; ++k) {
        std::lock_guard<jiffy::mutex> g(m);
        c.enter_and_bump();
        if ((k + i) % 7 == 0) jiffy::this_fiber::yield();  // hold it across a switch sometimes
      }
    }));
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < per; ++k) {
        std::unique_lock<jiffy::mutex> g(m);
        c.enter_and_bump();
      }
    });
  for (auto& f : fs) f.join();
  for (auto& t : ts) t.join();
  CHECK(c.overlaps.load() == 0);
  CHECK(c.value == 18L * per);
}
TEST_CASE_TEMPLATE_APPLY(mutex_exclusion, test::one_to_eight_workers);

TEST_CASE("mutex try_lock fails while held and succeeds once released") {
  jiffy::runtime rt({.workers = 1});
  jiffy::mutex m;
  m.lock();
  CHECK_FALSE(rt.block_on([&] { return m.try_lock(); }));
  m.unlock();
  CHECK(rt.block_on([&] {
    bool ok = m.try_lock();
    if (ok) m.unlock();
    return ok;
  }));
}

TEST_CASE_TEMPLATE_DEFINE("fibers waiting on a mutex park only themselves, also when they outnumber the workers", W,
                          mutex_parks) {
  constexpr int n = static_cast<int>(W::count);
  test::watchdog wd(60s, "mutex parks");
  jiffy::runtime rt({.workers = W::count, .preempt = jiffy::preempt_mode::none});
  jiffy::mutex m;
  std::atomic<int> progress{0}, waiting{0};
  m.lock();  // held by this plain thread
  // More waiters than workers, and no preemption: had the first ones blocked
  // or spun on their workers, the rest could never start.
  const int blocked_count = 2 * n + 1;
  std::vector<jiffy::fiber> blocked;
  for (int i = 0; i < blocked_count; ++i)
    blocked.push_back(rt.spawn([&] {
      ++waiting;
      std::lock_guard<jiffy::mutex> g(m);
      progress += 100;
    }));
  CHECK(test::wait_until([&] { return waiting.load() == blocked_count; }));
  // And the workers still run other fibers while all of them wait.
  auto free = rt.spawn([&] { progress += 1; });
  free.join();
  CHECK(progress.load() == 1);
  m.unlock();
  for (auto& f : blocked) f.join();
  CHECK(progress.load() == 1 + 100 * blocked_count);
}
TEST_CASE_TEMPLATE_APPLY(mutex_parks, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("condition_variable: a bounded queue between fiber producers and thread consumers", W,
                          cv_queue) {
  test::watchdog wd(120s, "condition_variable queue");
  jiffy::runtime rt({.workers = W::count, .preempt = jiffy::preempt_mode::none});
  jiffy::mutex m;
  jiffy::condition_variable not_empty, not_full;
  std::deque<int> q;
  const int items = test::scale(20000);
  long consumed_sum = 0;
  std::vector<jiffy::fiber> producers;
  for (int p = 0; p < 4; ++p)
    producers.push_back(rt.spawn([&, p] {
      for (int i = p; i < items; i += 4) {
        std::unique_lock<jiffy::mutex> lk(m);
        not_full.wait(lk, [&] { return q.size() < 8; });
        q.push_back(i);
        not_empty.notify_one();
      }
    }));
  std::vector<std::thread> consumers;
  std::atomic<int> taken{0};
  for (int c = 0; c < 2; ++c)
    consumers.emplace_back([&] {
      for (;;) {
        std::unique_lock<jiffy::mutex> lk(m);
        not_empty.wait(lk, [&] { return !q.empty() || taken.load() >= items; });
        if (q.empty()) return;
        consumed_sum += q.front();
        q.pop_front();
        if (++taken == items) not_empty.notify_all();
        not_full.notify_one();
      }
    });
  for (auto& p : producers) p.join();
  for (auto& c : consumers) c.join();
  CHECK(taken.load() == items);
  CHECK(consumed_sum == static_cast<long>(items) * (items - 1) / 2);
}
TEST_CASE_TEMPLATE_APPLY(cv_queue, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("condition_variable wait_for times out, and notify_all wakes every waiter", W, cv_timeouts) {
  test::watchdog wd(60s, "condition_variable timeouts");
  jiffy::runtime rt({.workers = W::count});
  jiffy::mutex m;
  jiffy::condition_variable cv;
  auto fiber_status = rt.block_on([&] {
    std::unique_lock<jiffy::mutex> lk(m);
    auto t0 = std::chrono::steady_clock::now();
    auto st = cv.wait_for(lk, 20ms);
    return std::pair{st, std::chrono::steady_clock::now() - t0};
  });
  CHECK(fiber_status.first == std::cv_status::timeout);
  CHECK(fiber_status.second >= 20ms);
  {
    std::unique_lock<jiffy::mutex> lk(m);
    CHECK_FALSE(cv.wait_for(lk, 5ms, [] { return false; }));
  }
  bool go = false;
  std::atomic<int> woke{0};
  std::vector<jiffy::fiber> fs;
  for (int i = 0; i < 20; ++i)
    fs.push_back(rt.spawn([&] {
      std::unique_lock<jiffy::mutex> lk(m);
      if (cv.wait_for(lk, 30s, [&] { return go; })) ++woke;
    }));
  std::thread t([&] {
    std::unique_lock<jiffy::mutex> lk(m);
    if (cv.wait_for(lk, 30s, [&] { return go; })) ++woke;
  });
  std::this_thread::sleep_for(20ms);
  {
    std::lock_guard<jiffy::mutex> lk(m);
    go = true;
  }
  cv.notify_all();
  for (auto& f : fs) f.join();
  t.join();
  CHECK(woke.load() == 21);
}
TEST_CASE_TEMPLATE_APPLY(cv_timeouts, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("timed waits racing notifications never lose a wake-up or wake twice", W, cv_races) {
  test::watchdog wd(120s, "timed wait races");
  jiffy::runtime rt({.workers = W::count, .preempt = jiffy::preempt_mode::none});
  jiffy::mutex m;
  jiffy::condition_variable cv;
  long tokens = 0, received = 0;
  const int rounds = test::scale(3000);
  std::atomic<bool> done{false};
  std::vector<jiffy::fiber> waiters;
  for (int i = 0; i < 4; ++i)
    waiters.push_back(rt.spawn([&] {
      std::unique_lock<jiffy::mutex> lk(m);
      while (!done.load()) {
        // Deadlines of a few µs race the notifier constantly.
        cv.wait_for(lk, std::chrono::microseconds(1 + (received % 50)));
        while (tokens > 0) --tokens, ++received;
      }
    }));
  for (int r = 0; r < rounds; ++r) {
    std::lock_guard<jiffy::mutex> lk(m);
    ++tokens;
    cv.notify_one();
  }
  CHECK(test::wait_until([&] {
    std::lock_guard<jiffy::mutex> lk(m);
    return received == rounds;
  }));
  done = true;
  cv.notify_all();
  for (auto& w : waiters) w.join();
  CHECK(received == rounds);
}
TEST_CASE_TEMPLATE_APPLY(cv_races, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE("wait_group counts fibers and threads, and is reusable", W, wait_group) {
  test::watchdog wd(60s, "wait_group");
  jiffy::runtime rt({.workers = W::count});
  jiffy::wait_group wg;
  std::atomic<int> done{0};
  for (int round = 0; round < 3; ++round) {
    wg.add(40);
    for (int i = 0; i < 30; ++i)
      rt.spawn([&] {
          jiffy::this_fiber::sleep_for(1ms);
          ++done;
          wg.done();
        }).detach();
    std::vector<std::thread> ts;
    for (int i = 0; i < 10; ++i)
      ts.emplace_back([&] {
        ++done;
        wg.done();
      });
    // One waiter is a fiber, one is this thread.
    auto f = rt.spawn([&] { wg.wait(); });
    wg.wait();
    f.join();
    for (auto& t : ts) t.join();
    CHECK(wg.count() == 0);
    CHECK(done.load() == 40 * (round + 1));
  }
  CHECK(wg.wait_for(1ms));  // already zero
  wg.add();
  CHECK_FALSE(wg.wait_for(5ms));
  wg.done();
}
TEST_CASE_TEMPLATE_APPLY(wait_group, test::one_to_eight_workers);
