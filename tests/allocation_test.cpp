// No hidden allocation: in steady state, spawning and joining fibers whose
// closures fit in 48 bytes, parallel_for and blocking() make no heap
// allocation at all. This binary replaces the global operator new and
// delete to count every allocation the process makes, on any thread.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> allocations{0};

void* counted_allocation(std::size_t n, std::size_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n ? n : 1);
  if (!p) std::abort();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_allocation(n, 0); }
void* operator new[](std::size_t n) { return counted_allocation(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_allocation(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_allocation(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_allocation(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_allocation(n, 0); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

// Allocations made, process-wide, while f() ran.
template <class F>
long allocations_during(F&& f) {
  long before = allocations.load();
  f();
  return allocations.load() - before;
}

// 48 bytes of captured state.
struct payload {
  std::uint64_t words[6];
};

}  // namespace

TEST_CASE("the allocation counter sees allocations (the check below can fail)") {
  CHECK(allocations_during([] { delete new int(1); }) == 1);
}

TEST_CASE("steady-state spawn and join of fibers with 48-byte closures allocate nothing") {
  jiffy::runtime rt({.workers = 2});
  std::atomic<std::uint64_t> sink{0};
  auto round = [&] {
    rt.block_on([&] {
      payload p{{1, 2, 3, 4, 5, 6}};
      jiffy::fiber fibers[64];
      for (auto& f : fibers) f = jiffy::spawn([p, &sink] { sink += p.words[5]; });
      for (auto& f : fibers) f.join();
    });
  };
  for (int i = 0; i < 20; ++i) round();  // warm: stacks mapped, queues grown
  CHECK(allocations_during([&] {
          for (int i = 0; i < 50; ++i) round();
        }) == 0);
  CHECK(sink.load() == 6u * 64 * 70);
}

TEST_CASE("steady-state parallel_for calls allocate nothing") {
  jiffy::runtime rt({.workers = 2});
  std::atomic<long> sum{0};
  auto round = [&] {
    rt.block_on([&] { jiffy::parallel_for(0, 1000, [&](int i) { sum.fetch_add(i, std::memory_order_relaxed); }); });
  };
  for (int i = 0; i < 20; ++i) round();
  CHECK(allocations_during([&] {
          for (int i = 0; i < 50; ++i) round();
        }) == 0);
  CHECK(sum.load() == 70L * 999 * 1000 / 2);
}
