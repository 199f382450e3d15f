// fiber_options::stack_size: a fiber's own stack size, from pooled,
// guarded stacks like the runtime's own.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <csignal>
#include <cstdint>
#include <string>

using namespace std::chrono_literals;

namespace {
constexpr std::size_t KiB = 1024;

// Where a fiber's stack is, roughly: its first frame.
std::uintptr_t frame_address_in(const jiffy::fiber_options& o, jiffy::wait_group& alive) {
  std::uintptr_t at = 0;
  jiffy::wait_group seen(1);
  jiffy::spawn(o, [&] {
    at = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    seen.done();
    alive.wait();  // keeps the stack taken until the test lets go
  }).detach();
  seen.wait();
  return at;
}
}  // namespace

TEST_CASE("the stack size a fiber asks for: 0 or the runtime's gives the runtime's, others a power of two") {
  jiffy::runtime rt({.workers = 1, .stack_size = 64 * KiB});
  CHECK(rt.stack_size_for(0) == rt.stack_size());
  CHECK(rt.stack_size_for(64 * KiB) == rt.stack_size());
  CHECK(rt.stack_size_for(60 * KiB) == rt.stack_size());  // rounds to the runtime's pages
  CHECK(rt.stack_size_for(32 * KiB) == 32 * KiB);
  CHECK(rt.stack_size_for(100000) == 128 * KiB);
  CHECK(rt.stack_size_for(1024 * KiB) == 1024 * KiB);
}

TEST_CASE("a fiber given a large stack can use it while the others keep the runtime's small one") {
  test::watchdog wd(60s, "large fiber stack");
  jiffy::runtime rt({.workers = 2, .stack_size = 64 * KiB});
  int big_ends = 0, small_end = 0;
  rt.block_on([&] {
    // 900 KB of locals: far past the runtime's 64 KiB, which would overflow.
    auto big = jiffy::spawn({.stack_size = 1024 * KiB}, [&] {
      volatile char buf[900 * 1024];
      buf[0] = 1;
      buf[sizeof buf - 1] = 2;
      big_ends = buf[0] + buf[sizeof buf - 1];
    });
    auto ordinary = jiffy::spawn([&] {
      volatile char buf[32 * 1024];
      buf[0] = 4;
      small_end = buf[0];
    });
    ordinary.join();
    big.join();
  });
  CHECK(big_ends == 3);
  CHECK(small_end == 4);
  CHECK(rt.stack_size() == 64 * KiB);
}

TEST_CASE("fibers with a small stack size really get small stacks, not the runtime's") {
  jiffy::runtime rt({.workers = 1, .stack_size = 256 * KiB});
  rt.block_on([] {
    jiffy::wait_group alive(1);
    // Taken one after the other from a fresh pool of 32 KiB stacks: adjacent
    // in their slab, a small stride apart (stack + guard), where two of the
    // runtime's stacks would be more than 256 KiB apart.
    std::uintptr_t a = frame_address_in({.stack_size = 32 * KiB}, alive);
    std::uintptr_t b = frame_address_in({.stack_size = 32 * KiB}, alive);
    std::uintptr_t gap = a > b ? a - b : b - a;
    CAPTURE(gap);
    CHECK(gap >= 32 * KiB);
    CHECK(gap < 256 * KiB);
    alive.done();
  });
}

TEST_CASE("stacks of a fiber's own size are pooled: repeated bursts map no new ones") {
  test::watchdog wd(60s, "sized stack bursts");
  jiffy::runtime rt({.workers = 2});
  auto burst = [&] {
    rt.block_on([] {
      // All 200 alive at once, so every burst needs the same 200 stacks.
      jiffy::wait_group started, done, release(1);
      for (int i = 0; i < 200; ++i) {
        started.add(1);
        done.add(1);
        jiffy::spawn({.stack_size = 32 * KiB}, [&] {
          started.done();
          release.wait();
          done.done();
        }).detach();
      }
      started.wait();
      release.done();
      done.wait();
    });
  };
  burst();
  std::uint64_t mapped = rt.stats().stacks_mapped;
  CHECK(rt.stats().stacks_pooled_resident > 0);
  for (int i = 0; i < 5; ++i) burst();
  CHECK(rt.stats().stacks_mapped == mapped);
}

TEST_CASE("an overflow of a fiber's own small stack is reported naming the fiber and its size") {
  auto r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.block_on([] {
      jiffy::spawn({.name = "tiny job", .stack_size = 32 * KiB}, [] { test::recurse_until_overflow(0); }).join();
    });
  });
#if JIFFY_ASAN
  CHECK(!r.exited);  // ASan reports the overflow itself (its SEGV handler runs first)
#else
  CAPTURE(r.err);
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy: fiber stack overflow (fiber ") != std::string::npos);
  CHECK(r.err.find("\"tiny job\", stack of 32768 bytes") != std::string::npos);
  CHECK(r.err.find("fiber_options::stack_size") != std::string::npos);
#endif
}

TEST_CASE("a fiber stack size out of range stops the program with a message naming the field and the value") {
  struct bad {
    std::size_t size;
    const char* got;
  };
  const bad cases[] = {{1, "(got 1)"}, {4096, "(got 4096)"}, {std::size_t{2} << 30, "(got 2147483648)"}};
  for (const bad& b : cases) {
    CAPTURE(b.size);
    auto r = test::run_in_child([&] {
      jiffy::runtime rt({.workers = 1});
      rt.block_on([&] { jiffy::spawn({.stack_size = b.size}, [] {}).join(); });
    });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find("jiffy::spawn(): fiber_options::stack_size must be 0 (the runtime's size) or ") !=
          std::string::npos);
    CHECK(r.err.find(" to 1073741824 bytes ") != std::string::npos);
    CHECK(r.err.find(b.got) != std::string::npos);
  }
  auto r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.spawn({.stack_size = 100}, [] {}).join();
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("runtime::spawn(): fiber_options::stack_size must be") != std::string::npos);
}
