// Fiber stacks: overflow is caught and named; many fibers fit.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
volatile int keep_going = 1;
[[gnu::noinline]] int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (keep_going) return recurse(depth + 1) + pad[0];
  return pad[0];
}

// Overflows a fiber's stack in a child process and checks the report.
void check_overflow_reported(const std::function<void()>& before) {
  auto r = test::run_in_child([&] {
    before();
    jiffy::runtime rt({.workers = 1, .stack_size = 64 * 1024});
    rt.block_on([] { recurse(0); });
  });
#if JIFFY_ASAN
  // ASan reports the overflow itself (its SEGV handler runs first).
  CHECK(!r.exited);
#else
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: fiber stack overflow (fiber ") != std::string::npos);
#endif
}
}  // namespace

TEST_CASE("a fiber stack overflow prints the fiber's id and aborts") {
  check_overflow_reported([] {});
}

TEST_CASE("a runtime started after SIGSEGV was reset to the default still reports a fiber's overflow") {
  check_overflow_reported([] {
    { jiffy::runtime first({.workers = 1}); }  // installs the overflow handler
    std::signal(SIGSEGV, SIG_DFL);             // the program (or a forked child's harness) resets it
  });
}

TEST_CASE("stack size is configurable and rounded to pages") {
  jiffy::runtime rt({.workers = 1, .stack_size = 100000});
  CHECK(rt.stack_size() >= 100000);
  CHECK(rt.stack_size() % 4096 == 0);
  // A fiber can use most of what it asked for.
  int ok = rt.block_on([] {
    volatile char big[80000];
    big[0] = 1;
    big[sizeof big - 1] = 2;
    return big[0] + big[sizeof big - 1];
  });
  CHECK(ok == 3);
}

namespace {
long count_maps() {
  std::ifstream f("/proc/self/maps");
  long n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}
}  // namespace

TEST_CASE("100,000 fibers live at once under the default vm.max_map_count") {
  test::watchdog wd(300s, "100k fibers");
  const int n = test::scale(100000);
  jiffy::runtime rt({.workers = 2});
  jiffy::wait_group gate(1), parked, finished;
  std::atomic<int> started{0};
  parked.add(n);
  finished.add(n);
  for (int i = 0; i < n; ++i)
    rt.spawn([&] {
        ++started;
        parked.done();
        gate.wait();
        finished.done();
      }).detach();
  parked.wait();
  CHECK(started.load() == n);
  long maps = count_maps();
  MESSAGE(n << " parked fibers; the process has " << maps << " memory mappings");
  CHECK(maps < 65530);
  gate.done();
  finished.wait();
}
