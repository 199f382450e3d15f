// Preempt counts, need_resched, migrate_disable: on plain threads and fibers.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <set>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("preempt counts nest on a plain thread and each thread has its own") {
  CHECK(jiffy::preempt_count() == 0);
  CHECK(jiffy::preemptible());
  jiffy::preempt_disable();
  jiffy::preempt_disable();
  CHECK(jiffy::preempt_count() == 2);
  CHECK_FALSE(jiffy::preemptible());
  unsigned other = 99;
  std::thread([&] { other = jiffy::preempt_count(); }).join();
  CHECK(other == 0);
  jiffy::preempt_enable();
  CHECK(jiffy::preempt_count() == 1);
  jiffy::preempt_enable_no_resched();
  CHECK(jiffy::preempt_count() == 0);
  CHECK(jiffy::preemptible());
}

TEST_CASE("preempt_guard disables for its scope") {
  {
    jiffy::preempt_guard g;
    CHECK(jiffy::preempt_count() == 1);
    {
      jiffy::preempt_guard inner;
      CHECK(jiffy::preempt_count() == 2);
    }
    CHECK(jiffy::preempt_count() == 1);
  }
  CHECK(jiffy::preempt_count() == 0);
}

TEST_CASE("preemption points are harmless outside fibers") {
  CHECK_FALSE(jiffy::need_resched());
  jiffy::cond_resched();
  jiffy::preempt_check_resched();
  jiffy::this_fiber::yield();
  CHECK(jiffy::this_fiber::worker_index() == jiffy::this_fiber::not_a_worker);
  CHECK_FALSE(jiffy::this_fiber::in_fiber());
}

TEST_CASE("a fiber's preempt count is its own and follows it across switches") {
  test::watchdog wd(120s, "preempt count per fiber");
  jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::none});
  std::atomic<int> wrong{0};
  rt.block_on([&] {
    std::vector<jiffy::fiber> fs;
    for (int i = 0; i < 16; ++i)
      fs.push_back(jiffy::spawn([&] {
        for (int k = 0; k < test::scale(2000); ++k) {
          if (jiffy::preempt_count() != 0) ++wrong;
          {
            jiffy::preempt_guard g;
            unsigned w = jiffy::this_fiber::worker_index();
            for (int spin = 0; spin < 50; ++spin) jiffy::cond_resched();  // never switches while disabled
            if (jiffy::preempt_count() != 1 || jiffy::this_fiber::worker_index() != w) ++wrong;
          }
          jiffy::this_fiber::yield();
        }
      }));
    for (auto& f : fs) f.join();
  });
  CHECK(wrong.load() == 0);
}

TEST_CASE("migrate_disable keeps a fiber on its worker across yields and sleeps, and the count travels with it") {
  test::watchdog wd(120s, "migrate_disable");
  jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::none});
  std::atomic<int> moved{0}, wrong_count{0};
  std::atomic<int> migrations_seen_unpinned{0};
  rt.block_on([&] {
    std::vector<jiffy::fiber> fs;
    for (int i = 0; i < 8; ++i) {
      fs.push_back(jiffy::spawn([&, i] {
        unsigned depth = static_cast<unsigned>(i % 3) + 1;
        for (unsigned d = 0; d < depth; ++d) jiffy::migrate_disable();
        unsigned home = jiffy::this_fiber::worker_index();
        for (int k = 0; k < test::scale(3000); ++k) {
          if (k % 500 == 0)
            jiffy::this_fiber::sleep_for(100us);
          else
            jiffy::this_fiber::yield();
          if (jiffy::this_fiber::worker_index() != home) ++moved;
          if (jiffy::migrate_disable_count() != depth) ++wrong_count;
        }
        for (unsigned d = 0; d < depth; ++d) jiffy::migrate_enable();
      }));
      // Free fibers alongside, so the workers have reason to steal.
      fs.push_back(jiffy::spawn([&] {
        unsigned last = jiffy::this_fiber::worker_index();
        for (int k = 0; k < test::scale(3000); ++k) {
          jiffy::this_fiber::yield();
          if (jiffy::migrate_disable_count() != 0) ++wrong_count;
          unsigned now = jiffy::this_fiber::worker_index();
          if (now != last) ++migrations_seen_unpinned;
          last = now;
        }
      }));
    }
    for (auto& f : fs) f.join();
  });
  CHECK(moved.load() == 0);
  CHECK(wrong_count.load() == 0);
  MESSAGE("unpinned fibers migrated " << migrations_seen_unpinned.load() << " times");
}

TEST_CASE("a pinned fiber only ever runs on its worker") {
  test::watchdog wd(60s, "pinned fibers");
  jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::none});
  std::atomic<int> off_worker{0};
  std::vector<jiffy::fiber> fs;
  for (unsigned w = 0; w < 2; ++w)
    for (int i = 0; i < 4; ++i)
      fs.push_back(rt.spawn_pinned(w, [&, w] {
        for (int k = 0; k < test::scale(2000); ++k) {
          if (jiffy::this_fiber::worker_index() != w) ++off_worker;
          if (k % 400 == 0)
            jiffy::this_fiber::sleep_for(50us);
          else
            jiffy::this_fiber::yield();
        }
      }));
  for (auto& f : fs) f.join();
  CHECK(off_worker.load() == 0);
}
