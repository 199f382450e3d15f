// Main fibers: runtime::spawn_main queues fibers that run only on the
// program's own thread, while it is in runtime::serve_main.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <csignal>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using jiffy::sched_policy;
using jiffy::serve_mode;

namespace {
long tid() { return static_cast<long>(::syscall(SYS_gettid)); }

// Keeps a one-worker runtime's only worker busy (under preempt_mode::none,
// never preempted) until released: then only a serving thread that helps
// can run anything else.
struct busy_worker {
  std::atomic<bool> started{false}, released{false};
  jiffy::fiber f;
  explicit busy_worker(jiffy::runtime& rt) {
    f = rt.spawn([this] {
      started = true;
      while (!released.load()) {
      }
    });
    REQUIRE(test::wait_until([&] { return started.load(); }));
  }
  void release() {
    released = true;
    f.join();
  }
};
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("a main fiber runs only on the serving thread, and not before it serves", W, main_only_id) {
  test::watchdog wd(60s, "main fiber thread");
  jiffy::runtime rt({.workers = W::count});
  std::atomic<long> ran_on{0};
  jiffy::wait_group frame(1);
  auto f = rt.spawn_main([&] {
    ran_on = tid();
    frame.done();
  });
  // The workers are idle and could run it; they must not. (Only a miss can
  // come of this wait, never a false failure.)
  std::this_thread::sleep_for(50ms);
  CHECK(ran_on.load() == 0);
  rt.serve_main(frame);
  CHECK(ran_on.load() == tid());
  f.join();
}
TEST_CASE_TEMPLATE_APPLY(main_only_id, test::one_to_eight_workers);

TEST_CASE_TEMPLATE_DEFINE(
    "main fibers spawned by worker fibers run on the serving thread, and what they spawn or wake "
    "runs on the workers",
    W, main_spawned_id) {
  test::watchdog wd(60s, "main fibers from workers");
  jiffy::runtime rt({.workers = W::count});
  const int n = 50;
  std::atomic<int> on_main{0}, elsewhere{0}, children_on_workers{0}, woken_on_workers{0};
  jiffy::wait_group frame(n);
  long me = tid();
  auto producer = rt.spawn([&] {
    for (int i = 0; i < n; ++i) {
      jiffy::spawn_main([&] {
        (tid() == me ? on_main : elsewhere)++;
        // A fiber spawned here, and one woken from here, are the workers'.
        jiffy::wait_group wake(1);
        auto sleeper = jiffy::spawn([&] {
          wake.wait();
          if (tid() != me) woken_on_workers++;
        });
        auto child = jiffy::spawn([&] {
          if (tid() != me) children_on_workers++;
        });
        wake.done();
        child.join();
        sleeper.join();
        frame.done();
      }).detach();
    }
  });
  rt.serve_main(frame);
  producer.join();
  CHECK(on_main.load() == n);
  CHECK(elsewhere.load() == 0);
  CHECK(children_on_workers.load() == n);
  CHECK(woken_on_workers.load() == n);
}
TEST_CASE_TEMPLATE_APPLY(main_spawned_id, test::one_to_eight_workers);

TEST_CASE("a main fiber may sleep, lock a mutex shared with workers, and wait for them") {
  test::watchdog wd(60s, "main fiber blocking");
  jiffy::runtime rt({.workers = 2});
  jiffy::mutex m;
  long shared = 0;
  jiffy::wait_group frame(1);
  long me = tid();
  std::atomic<int> wrong_thread{0};
  auto check_thread = [&] {
    if (tid() != me) wrong_thread++;
  };
  rt.spawn_main([&] {
      for (int round = 0; round < 20; ++round) {
        jiffy::wait_group jobs(4);
        for (int j = 0; j < 4; ++j)
          jiffy::spawn([&] {
            for (int k = 0; k < 100; ++k) {
              jiffy::lock_guard g(m);
              ++shared;
            }
            jobs.done();
          }).detach();
        for (int k = 0; k < 100; ++k) {
          jiffy::lock_guard g(m);
          ++shared;
        }
        check_thread();
        jobs.wait();
        check_thread();
        jiffy::this_fiber::sleep_for(1ms);
        check_thread();
        jiffy::this_fiber::yield();
        check_thread();
      }
      frame.done();
    }).detach();
  rt.serve_main(frame);
  CHECK(wrong_thread.load() == 0);
  CHECK(shared == 20 * 5 * 100);
}

TEST_CASE("main fibers run by class and priority: a fifo one queued last runs before normal ones") {
  jiffy::runtime rt({.workers = 1});
  std::vector<std::string> order;  // touched only on the serving thread
  jiffy::wait_group frame(3);
  auto a = rt.spawn_main({.name = "a"}, [&] {
    order.push_back("a");
    frame.done();
  });
  auto b = rt.spawn_main({.name = "b"}, [&] {
    order.push_back("b");
    frame.done();
  });
  auto audio = rt.spawn_main({.policy = sched_policy::fifo, .priority = 50}, [&] {
    order.push_back("audio");
    frame.done();
  });
  rt.serve_main(frame);
  a.join();
  b.join();
  audio.join();
  REQUIRE(order.size() == 3);
  CHECK(order[0] == "audio");
  CHECK(order[1] == "a");
  CHECK(order[2] == "b");
}

TEST_CASE("serve_main for a duration runs main fibers for that long, then returns") {
  test::watchdog wd(60s, "serve for a duration");
  jiffy::runtime rt({.workers = 1});
  std::atomic<bool> stop{false};
  int ticks = 0;
  auto ticker = rt.spawn_main([&] {
    while (!stop.load()) {
      ++ticks;
      jiffy::this_fiber::sleep_for(1ms);
    }
  });
  auto start = std::chrono::steady_clock::now();
  rt.serve_main(50ms);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 50ms);
  CHECK(ticks > 0);
  int after = ticks;
  std::this_thread::sleep_for(20ms);
  CHECK(ticks == after);  // not served: the ticker does not run
  stop = true;
  ticker.join();  // joining a main fiber on the serving thread serves it to its end
}

TEST_CASE("serve_mode::help runs other fibers while no main fiber is runnable") {
  test::watchdog wd(60s, "helping");
  jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none});
  busy_worker busy(rt);
  std::atomic<long> helped_on{0};
  jiffy::wait_group frame(1);
  auto job = rt.spawn([&] {
    helped_on = tid();
    frame.done();
  });
  rt.serve_main(frame, serve_mode::help);
  CHECK(helped_on.load() == tid());
  busy.release();
  job.join();
}

TEST_CASE("a fiber helped on the serving thread that sleeps is woken by the workers after the serve ends") {
  test::watchdog wd(60s, "helped sleeper");
  jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::none});
  busy_worker busy(rt);
  jiffy::wait_group started(1);
  std::atomic<bool> woke{false};
  auto sleeper = rt.spawn([&] {
    started.done();
    jiffy::this_fiber::sleep_for(20ms);  // its timer must not stay with the main thread
    woke = true;
  });
  rt.serve_main(started, serve_mode::help);
  busy.release();  // the worker is free; the serving thread is not serving
  CHECK(test::wait_until([&] { return woke.load(); }, 30s));
  sleeper.join();
}

TEST_CASE("joining a main fiber on the program's thread serves it, and the destructor serves the rest") {
  test::watchdog wd(60s, "join and destructor serve");
  std::atomic<long> joined_on{0}, detached_on{0};
  {
    jiffy::runtime rt({.workers = 2});
    rt.spawn_main([&] { joined_on = tid(); }).join();
    rt.spawn_main([&] {
        jiffy::this_fiber::sleep_for(5ms);
        detached_on = tid();
      }).detach();
  }
  CHECK(joined_on.load() == tid());
  CHECK(detached_on.load() == tid());
}

TEST_CASE("the main worker's counts are in stats()") {
  jiffy::runtime rt({.workers = 1});
  auto before = rt.stats().fibers_finished;
  rt.spawn_main([] {}).join();
  CHECK(rt.stats().fibers_finished == before + 1);
}

TEST_CASE("serving from a fiber, from a second thread, or spawn_main outside a fiber stops with a message") {
  auto r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.block_on([&] { rt.serve_main(10ms); });
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: runtime::serve_main() called from a fiber or a worker thread") != std::string::npos);
  r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.serve_main(1ms);
    std::thread([&] { rt.serve_main(1ms); }).join();
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: runtime::serve_main() called on thread ") != std::string::npos);
  CHECK(r.err.find("but this runtime's main fibers are served by thread ") != std::string::npos);
  r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    (void)jiffy::spawn_main([] {});
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy::spawn_main() called outside a fiber (use runtime::spawn_main())") != std::string::npos);
}
