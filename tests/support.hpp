// tests/support.hpp — helpers shared by jiffy's tests.
//
//  * run_in_child(fn): runs fn in a forked child with stderr captured, so a
//    test can check that misuse aborts with the right message. The parent
//    must have no other threads (every runtime of earlier tests is gone).
//  * watchdog: turns a hang into a failure that names the test, instead of a
//    CI job that times out silently.
//  * wait_until(pred, timeout): a bounded wait for a condition.
//  * scale(n): test sizes, reduced under sanitizers and emulation where
//    each fiber costs far more.
//  * cpu_us_used_while(f): the process's CPU time while f ran (idle tests).
//  * on_workers<N>, one_to_eight_workers, two_to_eight_workers: worker
//    counts for TEST_CASE_TEMPLATE_DEFINE/_APPLY, so a core behaviour test
//    runs on 1, 2, 4 and 8 workers (more workers than the CI machines' two
//    cores), as marl's suite does. Each count is its own doctest case and
//    ctest test, named "<case name><2 workers>".
#pragma once

#if !defined(__cpp_exceptions) && !defined(DOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS)
#define DOCTEST_CONFIG_NO_EXCEPTIONS_BUT_WITH_ALL_ASSERTS
#endif
#include <doctest.h>

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace test {

struct child_result {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  std::string err;
};

inline child_result run_in_child(const std::function<void()>& fn) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], 2);
    // The child must die the way the code under test makes it die, not
    // through the test framework's crash reporting.
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) std::signal(sig, SIG_DFL);
    ::alarm(60);  // a hung child dies by SIGALRM, which the parent reports
    fn();
    std::fflush(nullptr);
    ::_exit(0);
  }
  ::close(fds[1]);
  child_result r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    r.exited = true;
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit, const char* what = "test") : what_(what) {
    thread_ = std::thread([this, limit] {
      std::unique_lock<std::mutex> lk(mu_);
      if (!cv_.wait_for(lk, limit, [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: %s did not finish within %lld s (a hang)\n", what_,
                     static_cast<long long>(limit.count()));
        std::fflush(stderr);
        std::abort();
      }
    });
  }
  ~watchdog() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  const char* what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

inline bool slow_environment() {
#if JIFFY_ASAN || JIFFY_TSAN || defined(__aarch64__)
  return true;
#else
  return std::getenv("JIFFY_TEST_SLOW") != nullptr;
#endif
}

inline int scale(int n) { return slow_environment() ? n / 10 : n; }

// Recurses 512 bytes a frame until the stack overflows (stack overflow
// tests: the guard below the fiber's stack must catch it).
inline volatile int keep_recursing = 1;
[[gnu::noinline]] inline int recurse_until_overflow(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (keep_recursing) return recurse_until_overflow(depth + 1) + pad[0];
  return pad[0];
}

// CPU time (user + system, all threads) the process used while f() ran, in µs.
template <class F>
long cpu_us_used_while(F&& f) {
  auto cpu_us = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000L + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
  };
  long before = cpu_us();
  f();
  return cpu_us() - before;
}

// A worker count as a type, for template test cases: W::count.
template <unsigned N>
struct on_workers {
  static constexpr unsigned count = N;
};
using one_to_eight_workers = std::tuple<on_workers<1>, on_workers<2>, on_workers<4>, on_workers<8>>;
// For behaviour that needs a second worker (stealing, spreading work).
using two_to_eight_workers = std::tuple<on_workers<2>, on_workers<4>, on_workers<8>>;

}  // namespace test

// The case-name suffixes. No ';' in them: ctest's discovery would split the
// name there.
TYPE_TO_STRING_AS("1 worker", test::on_workers<1>);
TYPE_TO_STRING_AS("2 workers", test::on_workers<2>);
TYPE_TO_STRING_AS("4 workers", test::on_workers<4>);
TYPE_TO_STRING_AS("8 workers", test::on_workers<8>);
