// Misuse is reported with a message naming it, never a silent crash or hang.
// This binary is built with JIFFY_DEBUG=1 in every configuration, so the
// debug checks are tested in release builds too.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <mutex>
#include <poll.h>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unistd.h>

TEST_CASE("misuse of the preempt count is reported, not silent") {
  SUBCASE("yield while preempt-disabled") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      rt.block_on([] {
        (void)jiffy::this_fiber::set_name("frame ticker");
        jiffy::preempt_disable();
        jiffy::this_fiber::yield();
      });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find("jiffy: BUG: scheduling while atomic") != std::string::npos);
    CHECK(r.err.find("by fiber 1 \"frame ticker\"") != std::string::npos);
  }
  SUBCASE("blocking on a mutex while preempt-disabled") {
    auto r = test::run_in_child([] {
      jiffy::mutex m;
      jiffy::preempt_guard g;
      m.lock();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find("scheduling while atomic: mutex::lock()") != std::string::npos);
  }
  SUBCASE("jiffy::blocking() while preempt-disabled") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      rt.block_on([] {
        jiffy::preempt_guard g;
        jiffy::blocking([] {});
      });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find("scheduling while atomic: jiffy::blocking()") != std::string::npos);
  }
  SUBCASE("preempt_enable below zero") {
    auto r = test::run_in_child([] { jiffy::preempt_enable(); });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find("preempt_enable() underflow") != std::string::npos);
  }
  SUBCASE("migrate_enable below zero") {
    auto r = test::run_in_child([] { jiffy::migrate_enable(); });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find("migrate_enable() underflow") != std::string::npos);
  }
  SUBCASE("a fiber that exits preempt-disabled is reported and the count is fixed up") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      rt.spawn([] { jiffy::preempt_disable(); }).join();
      unsigned after = rt.block_on([] { return jiffy::preempt_count(); });
      if (after != 0) std::abort();
    });
    CHECK(r.exited);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("exited with preempt_count 1") != std::string::npos);
  }
}

static bool mentions(const test::child_result& r, const char* what) { return r.err.find(what) != std::string::npos; }

TEST_CASE("handle misuse is reported") {
  SUBCASE("destroying a joinable fiber") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      {
        auto f = rt.spawn([] {});
      }
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "joinable jiffy::fiber was destroyed"));
  }
  SUBCASE("joining an empty handle") {
    auto r = test::run_in_child([] {
      jiffy::fiber f;
      f.join();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "not joinable"));
  }
  SUBCASE("a fiber joining itself") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      jiffy::fiber self;
      std::atomic<bool> ready{false};
      jiffy::fiber f = rt.spawn([&] {
        while (!ready.load()) jiffy::this_fiber::yield();
        self.join();
      });
      self = std::move(f);
      ready = true;
      std::this_thread::sleep_for(std::chrono::seconds(30));  // the fiber's fatal() ends us first
      std::fputs("the fiber never ran\n", stderr);
      std::_Exit(3);
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "called by the fiber itself"));
  }
  SUBCASE("spawn outside a fiber") {
    auto r = test::run_in_child([] { jiffy::spawn([] {}).detach(); });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "jiffy::spawn() called outside a fiber"));
  }
  SUBCASE("pinning to a worker that does not exist") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 2});
      rt.spawn_pinned(7, [] {}).join();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "worker 7 does not exist"));
  }
  SUBCASE("spawn with options outside a fiber") {
    auto r = test::run_in_child([] { jiffy::spawn(jiffy::fiber_options{.name = "x"}, [] {}).detach(); });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "jiffy::spawn() called outside a fiber (use runtime::spawn())"));
  }
  SUBCASE("spawn_pinned outside a fiber, with and without options") {
    auto r = test::run_in_child([] { jiffy::spawn_pinned(0, [] {}).detach(); });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "jiffy::spawn_pinned() called outside a fiber (use runtime::spawn_pinned())"));
    r = test::run_in_child([] { jiffy::spawn_pinned(0, jiffy::fiber_options{}, [] {}).detach(); });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "jiffy::spawn_pinned() called outside a fiber (use runtime::spawn_pinned())"));
  }
  SUBCASE("pinning from a fiber to a worker that does not exist, with and without options") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 2});
      rt.block_on([] { jiffy::spawn_pinned(5, [] {}).join(); });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "worker 5 does not exist"));
    r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 2});
      rt.block_on([] { jiffy::spawn_pinned(6, jiffy::fiber_options{}, [] {}).join(); });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "worker 6 does not exist"));
  }
  SUBCASE("destroying a runtime from its own fiber") {
    auto r = test::run_in_child([] {
      auto* rt = new jiffy::runtime({.workers = 1});
      rt->block_on([rt] { delete rt; });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "runtime destroyed from one of its own fibers"));
  }
}

TEST_CASE("synchronisation misuse is reported") {
  SUBCASE("unlocking an unlocked mutex") {
    auto r = test::run_in_child([] {
      jiffy::mutex m;
      m.unlock();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "mutex::unlock() of a mutex that is not locked"));
  }
  SUBCASE("wait_group below zero") {
    auto r = test::run_in_child([] {
      jiffy::wait_group wg;
      wg.done();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "wait_group counter went negative"));
  }
  SUBCASE("waiting on a wait_group while preempt-disabled") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      rt.block_on([] {
        jiffy::wait_group wg(1);
        jiffy::preempt_guard g;
        wg.wait();
      });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "scheduling while atomic: wait_group::wait()"));
  }
}

#if JIFFY_EXCEPTIONS
TEST_CASE("an exception escaping a fiber calls std::terminate, as with std::thread") {
  auto r = test::run_in_child([] {
    std::set_terminate([] {
      std::fputs("terminate handler ran\n", stderr);
      std::abort();
    });
    jiffy::runtime rt({.workers = 1});
    rt.spawn([] { throw std::runtime_error("escaped"); }).join();
  });
  CHECK(r.signal == SIGABRT);
  CHECK(mentions(r, "terminate handler ran"));
}
#endif

TEST_CASE("spinlock misuse is reported") {
  SUBCASE("unlocking a spinlock that is not held") {
    auto r = test::run_in_child([] {
      jiffy::spinlock l;
      l.unlock();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "spinlock::unlock() of a lock that is not held"));
  }
  SUBCASE("unlocking an mcs_spinlock that is not held") {
    auto r = test::run_in_child([] {
      jiffy::mcs_spinlock l;
      l.unlock();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "mcs_spinlock::unlock() of a lock that is not held"));
  }
  SUBCASE("yielding while holding a spinlock") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      jiffy::ticket_spinlock l;
      rt.block_on([&] {
        std::lock_guard<jiffy::ticket_spinlock> g(l);
        jiffy::this_fiber::yield();
      });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "scheduling while atomic: this_fiber::yield()"));
  }
  SUBCASE("sleeping while holding a std::mutex") {
    auto r = test::run_in_child([] {
      jiffy::runtime rt({.workers = 1});
      rt.block_on([] {
        std::mutex m;
        std::lock_guard<std::mutex> g(m);
        jiffy::this_fiber::sleep_for(std::chrono::milliseconds(1));
      });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "scheduling while atomic: this_fiber::sleep_for/sleep_until() called with preempt_count 1"));
  }
  SUBCASE("blocking on a jiffy::mutex while holding a spinlock") {
    auto r = test::run_in_child([] {
      jiffy::rw_spinlock l;
      jiffy::mutex m;
      std::shared_lock<jiffy::rw_spinlock> g(l);
      m.lock();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(mentions(r, "scheduling while atomic: mutex::lock()"));
  }
}

namespace {
// The misuse jiffy cannot make safe: a fiber blocks its worker's *thread* on
// a std::condition_variable, waiting for a fiber queued on the same worker
// (one worker: nobody else can run it). Returns after spawning; the caller
// joins, which never ends. Should the waiter be preempted before it takes
// the mutex (its first, slow run under qemu can use up a quantum), the
// notifier yields back until the waiter waits: run first, it would set
// `ready` and there would be no deadlock to report. (Once it holds the
// std::mutex, the waiter is not preempted: a held foreign lock defers it.)
void block_worker_on_std_condition_variable(jiffy::runtime& rt) {
  static std::mutex m;
  static std::condition_variable cv;
  static bool ready = false;
  static std::atomic<bool> waiting{false};
  auto waiter = rt.spawn({.name = "cv waiter"}, [] {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [] {
      waiting = true;
      return ready;
    });
  });
  auto notifier = rt.spawn([] {
    while (!waiting.load()) jiffy::this_fiber::yield();
    {
      std::lock_guard<std::mutex> g(m);
      ready = true;
    }
    cv.notify_one();
  });
  waiter.join();
  notifier.join();
}
}  // namespace

TEST_CASE("a worker blocked on a std::condition_variable for a fiber of its own is reported, naming fiber and wait") {
  auto r = test::run_in_child([] {
    // The child ends itself, since the deadlock never resolves: as soon as
    // the report is out, or after 20 s without it (the report needs over a
    // second of the worker blocked; 20 s leave room for a slow, loaded
    // machine and stay below run_in_child's 60 s alarm). To see the report
    // it reads its own stderr through a pipe, passing everything on.
    int real_stderr = ::dup(2);
    int p[2];
    if (real_stderr < 0 || ::pipe(p) != 0 || ::dup2(p[1], 2) < 0) std::_Exit(20);
    ::close(p[1]);
    std::thread([real_stderr, in = p[0]] {
      std::string seen;
      bool reported = false;
      auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{in, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[1024];
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          ssize_t w = ::write(real_stderr, buf + off, static_cast<std::size_t>(n - off));
          if (w <= 0) break;
          off += w;
        }
        seen.append(buf, static_cast<std::size_t>(n));
        if (!reported && seen.find("likely a deadlock") != std::string::npos) {
          reported = true;  // the rest of the report follows at once: pass it on too
          give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
        }
      }
      std::_Exit(0);
    }).detach();
    jiffy::runtime rt({.workers = 1, .stop_on_deadlock = false});
    block_worker_on_std_condition_variable(rt);
  });
  CHECK(r.exited);
  CHECK(r.err.find("jiffy: worker 0 has been blocked in the kernel (futex") != std::string::npos);
  CHECK(r.err.find("likely a deadlock") != std::string::npos);
  // The waiter, the first fiber, by id and name.
  CHECK(r.err.find("jiffy:   fiber 1 \"cv waiter\" is blocked there") != std::string::npos);
  INFO(r.err);
  // The notifier, queued on the worker or (spawned from outside) globally.
  CHECK((r.err.find("1 queued here") != std::string::npos || r.err.find("1 in the global queue") != std::string::npos));
}

TEST_CASE("with stop_on_deadlock a worker blocked on a fiber of its own stops the process with the report") {
  auto r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::voluntary, .stop_on_deadlock = true});
    block_worker_on_std_condition_variable(rt);
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("likely a deadlock") != std::string::npos);
  CHECK(r.err.find("jiffy: stopping (runtime_options::stop_on_deadlock)") != std::string::npos);
}
