// No hidden allocation: in steady state, spawning and joining fibers whose
// closures fit in 48 bytes, parallel_for and blocking() make no heap
// allocation at all, and a runtime given runtime_options::allocator makes none
// through operator new. This binary replaces the global operator new and
// delete to count every allocation the process makes, on any thread.
#include "allocation_ledger.hpp"
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <dlfcn.h>
#include <new>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
std::atomic<long> allocations{0};

// The first allocations made while a check counts, so that a failure names
// them: size, calling thread, and caller (as an offset into its object file,
// for addr2line).
struct allocation_site {
  std::size_t size;
  long tid;
  void* caller;
};
constexpr int max_sites = 16;
allocation_site sites[max_sites];
std::atomic<bool> recording{false};
std::atomic<int> recorded{0};

[[gnu::noinline]] void record_site(std::size_t n, void* caller) {
  int i = recorded.fetch_add(1, std::memory_order_relaxed);
  if (i < max_sites) sites[i] = {n, static_cast<long>(::gettid()), caller};
}

std::string recorded_sites() {
  std::ostringstream out;
  int n = recorded.load() < max_sites ? recorded.load() : max_sites;
  for (int i = 0; i < n; ++i) {
    Dl_info info{};
    out << "  " << sites[i].size << " bytes on thread " << sites[i].tid << ", called from ";
    if (::dladdr(sites[i].caller, &info) && info.dli_fname)
      out << info.dli_fname << "+0x" << std::hex
          << (reinterpret_cast<std::uintptr_t>(sites[i].caller) - reinterpret_cast<std::uintptr_t>(info.dli_fbase))
          << std::dec << (info.dli_sname ? " (" : "") << (info.dli_sname ? info.dli_sname : "")
          << (info.dli_sname ? ")" : "");
    else
      out << sites[i].caller;
    out << "\n";
  }
  return out.str();
}

[[gnu::always_inline]] inline void* counted_allocation(std::size_t n, std::size_t align, void* caller) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (recording.load(std::memory_order_relaxed)) record_site(n, caller);
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n ? n : 1);
  if (!p) std::abort();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_allocation(n, 0, __builtin_return_address(0)); }
void* operator new[](std::size_t n) { return counted_allocation(n, 0, __builtin_return_address(0)); }
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_allocation(n, static_cast<std::size_t>(a), __builtin_return_address(0));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_allocation(n, static_cast<std::size_t>(a), __builtin_return_address(0));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_allocation(n, 0, __builtin_return_address(0));
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_allocation(n, 0, __builtin_return_address(0));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

// Allocations made, process-wide, while f() ran; the first ones' sites
// are reported if there were any.
template <class F>
long allocations_during(F&& f) {
  recorded = 0;
  long before = allocations.load();
  recording = true;
  f();
  recording = false;
  long made = allocations.load() - before;
  if (made) MESSAGE("allocations made:\n" << recorded_sites());
  return made;
}

// 48 bytes of captured state.
struct payload {
  std::uint64_t words[6];
};

}  // namespace

TEST_CASE("the allocation counter sees allocations (the check below can fail)") {
  static int* volatile kept;  // volatile: the compiler may not elide the pair
  CHECK(allocations_during([] {
          kept = new int(1);
          delete kept;
        }) == 1);
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

TEST_CASE("growing the stack pool takes nothing from the heap either") {
  jiffy::runtime rt({.workers = 2});
  std::vector<jiffy::fiber> fibers(400);
  auto burst = [&](std::size_t n) {
    rt.block_on([&] {
      jiffy::wait_group started;
      jiffy::wait_group release;
      release.add(1);
      for (std::size_t i = 0; i < n; ++i) {
        jiffy::fiber& f = fibers[i];
        started.add(1);
        f = jiffy::spawn([&] {
          started.done();
          release.wait();  // all n alive at once: n stacks in use
        });
      }
      started.wait();
      release.done();
      for (std::size_t i = 0; i < n; ++i) fibers[i].join();
    });
  };
  burst(8);
  std::uint64_t mapped = rt.stats().stacks_mapped;
  // 400 stacks at once: new slabs, and the pool's lists grown to hold them.
  long made = allocations_during([&] { burst(fibers.size()); });
  CHECK(rt.stats().stacks_mapped >= mapped + 300);  // the pool did grow
  CHECK(made == 0);
}

TEST_CASE("a runtime given runtime_options::allocator never calls operator new, from construction to destruction") {
  test::allocation_ledger ledger;
  long checksum = 0;
  long made = allocations_during([&] {
    jiffy::runtime rt({.workers = 2, .allocator = ledger.hooks()});
    checksum = test::exercise_runtime(rt);
  });
  CHECK(made == 0);
  CHECK(ledger.allocations() > 0);
  CHECK(ledger.outstanding() == 0);
  CHECK(checksum == test::exercise_runtime_checksum);
}
