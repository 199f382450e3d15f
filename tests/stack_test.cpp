// Fiber stacks: overflow is caught and named; many fibers fit.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <csignal>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Overflows a fiber's stack in a child process and checks the report.
void check_overflow_reported(const std::function<void()>& before) {
  auto r = test::run_in_child([&] {
    before();
    jiffy::runtime rt({.workers = 1, .stack_size = 64 * 1024});
    rt.block_on([] { test::recurse_until_overflow(0); });
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

namespace {

// The process's resident set, in bytes (/proc/self/statm).
long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * ::sysconf(_SC_PAGESIZE);
}

long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// `n` fibers alive at once, each having touched `touch` bytes of its stack.
void burst(
    jiffy::runtime& rt, int n, std::size_t touch, const std::function<void()>& at_peak = [] {}) {
  jiffy::wait_group started(n), go(1);
  std::vector<jiffy::fiber> fibers;
  fibers.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    fibers.push_back(rt.spawn([&, touch] {
      volatile char* buf = static_cast<char*>(__builtin_alloca(touch));
      for (std::size_t b = 0; b < touch; b += 4096) buf[b] = 1;
      started.done();
      go.wait();
    }));
  started.wait();
  at_peak();
  go.done();
  for (auto& f : fibers) f.join();
}

}  // namespace

TEST_CASE("repeated bursts reuse their stacks: no new mappings and far fewer page faults after the first") {
  test::watchdog wd(120s, "stack bursts");
  jiffy::runtime rt({.workers = 1});
  const int n = test::scale(2000);
  long faults_before = minor_faults();
  burst(rt, n, 16 * 1024);
  long first = minor_faults() - faults_before;
  auto mapped = rt.stats().stacks_mapped;
  CHECK(mapped >= static_cast<std::uint64_t>(n));
  CHECK(rt.stats().stacks_pooled_resident >= static_cast<std::uint64_t>(n) - 64);  // all back, bar per-worker caches
  faults_before = minor_faults();
  burst(rt, n, 16 * 1024);
  burst(rt, n, 16 * 1024);
  long later = (minor_faults() - faults_before) / 2;
  CAPTURE(first);
  CAPTURE(later);
  CHECK(rt.stats().stacks_mapped == mapped);
  // The first burst faults in 4+ pages per fiber; a burst on warm stacks
  // only what the test's own bookkeeping touches.
  CHECK(later * 4 < first);
}

TEST_CASE("after a burst and a few idle seconds, the stacks' memory goes back and RSS falls near its level before") {
  test::watchdog wd(120s, "stack decay");
  jiffy::runtime rt({.workers = 2});
  const int n = test::scale(5000);
  rt.block_on([] {});  // the runtime's own start-up memory, before the baseline
  long before = resident_bytes();
  long peak = 0;
  burst(rt, n, 32 * 1024, [&] { peak = resident_bytes(); });
  CAPTURE(before);
  CAPTURE(peak);
  REQUIRE(peak - before > static_cast<long>(n) * 32 * 1024 / 2);  // the burst did make the RSS grow
  // Within seconds (a stack goes back after one unused), with nothing
  // running, the burst's stack pages are given back.
  CHECK(test::wait_until([&] { return rt.stats().stacks_pooled_resident == 0; }));
  // The sanitizers keep their shadow of the stacks' pages resident after
  // the pages themselves go back (ThreadSanitizer's is several times their
  // size), and qemu-user may ignore MADV_DONTNEED: there the pool's own
  // count above is the check.
  if (test::slow_environment()) return;
  long after = 0;
  CHECK(test::wait_until([&] {
    after = resident_bytes();
    return after - before < (peak - before) / 5;
  }));
  CAPTURE(after);
}
