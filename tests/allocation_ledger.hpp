// tests/allocation_ledger.hpp — a runtime_options::allocator for tests: it
// takes memory from malloc (not operator new, which allocation_test
// counts), remembers every block it handed out, and checks that each comes
// back once, with the size and alignment it was taken with.
#pragma once

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>

namespace test {

class allocation_ledger {
 public:
  jiffy::allocator_hooks hooks() noexcept { return {&allocate, &deallocate, this}; }

  long allocations() { return read(allocations_); }
  long outstanding() { return read(live_count_); }
  // Deallocations of a block the ledger never handed out (or twice), or
  // with a size or alignment other than the block's.
  long mismatches() { return read(mismatches_); }
  long misaligned() { return read(misaligned_); }

 private:
  template <class N>
  long read(const N& counter) {
    std::lock_guard<std::mutex> lk(mu_);
    return counter;
  }

  struct block {
    void* p;
    std::size_t size, alignment;
  };

  static void* allocate(void* context, std::size_t size, std::size_t alignment) {
    auto* self = static_cast<allocation_ledger*>(context);
    std::size_t a = alignment < sizeof(void*) ? sizeof(void*) : alignment;
    void* p = std::aligned_alloc(a, (size + a - 1) / a * a);
    if (!p) return nullptr;
    std::lock_guard<std::mutex> lk(self->mu_);
    ++self->allocations_;
    if (reinterpret_cast<std::uintptr_t>(p) % alignment) ++self->misaligned_;
    if (self->live_count_ == max_live) std::abort();  // the ledger is too small for the test
    self->live_[self->live_count_++] = {p, size, alignment};
    return p;
  }

  static void deallocate(void* context, void* p, std::size_t size, std::size_t alignment) {
    auto* self = static_cast<allocation_ledger*>(context);
    {
      std::lock_guard<std::mutex> lk(self->mu_);
      int i = 0;
      while (i < self->live_count_ && self->live_[i].p != p) ++i;
      if (i == self->live_count_) {
        ++self->mismatches_;  // not ours, or freed twice: do not free it
        return;
      }
      if (self->live_[i].size != size || self->live_[i].alignment != alignment) ++self->mismatches_;
      self->live_[i] = self->live_[--self->live_count_];
    }
    std::free(p);
  }

  static constexpr int max_live = 4096;
  std::mutex mu_;
  block live_[max_live];
  int live_count_ = 0;
  long allocations_ = 0, mismatches_ = 0, misaligned_ = 0;
};

// Runs in `rt` everything in jiffy that has ever taken heap memory after
// start: MCS queue nodes on the workers, more I/O descriptors than one chunk
// holds (each pipe carrying a byte, so each reaches the poller), idle
// workers (the idle list), parallel_for and blocking(). Returns a checksum:
// 16000 + 300 + 499500 + 1.
inline long exercise_runtime(jiffy::runtime& rt) {
  long checksum = 0;
  rt.block_on([&] {
    jiffy::mcs_spinlock lock;
    long counter = 0;
    jiffy::fiber fibers[8];
    for (auto& f : fibers)
      f = jiffy::spawn([&] {
        for (int k = 0; k < 2000; ++k) {
          lock.lock();
          ++counter;
          lock.unlock();
          if (k % 200 == 0) jiffy::this_fiber::yield();
        }
      });
    for (auto& f : fibers) f.join();
    checksum += counter;
    // mcs_spinlock queues a node only for a third waiter at once, which two
    // workers cannot guarantee: take the worker's node block as that waiter
    // would.
    (void)jiffy::detail::thread_mcs_block();

    jiffy::file ends[300];
    for (int i = 0; i < 300; i += 2) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) std::abort();
      ends[i] = jiffy::file(p[0]);
      ends[i + 1] = jiffy::file(p[1]);
    }
    for (int i = 0; i < 300; i += 2) {
      char c = 'x';
      if (auto w = ends[i + 1].write(&c, 1); w && w.value == 1) ++checksum;
      if (auto r = ends[i].read(&c, 1); r && r.value == 1 && c == 'x') ++checksum;
    }
    for (auto& e : ends) (void)e.close();

    std::atomic<long> sum{0};
    jiffy::parallel_for(0, 1000, [&](int i) { sum.fetch_add(i, std::memory_order_relaxed); });
    checksum += sum.load();
    jiffy::this_fiber::sleep_for(std::chrono::milliseconds(5));  // every worker idle meanwhile
    checksum += jiffy::blocking([] { return 1; });
  });
  return checksum;
}

inline constexpr long exercise_runtime_checksum = 16000 + 300 + 499500 + 1;

}  // namespace test
