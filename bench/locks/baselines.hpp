// bench/locks/baselines.hpp — two non-locks that put the uncontended figures
// in proportion (lockbench's `empty` and `fetch_add` rows).
//
//  * empty_lock: lock() and unlock() do nothing. Its uncontended cost is the
//    harness's own (the loop, the call it cannot inline), which lockbench
//    subtracts from every other lock's uncontended figure.
//  * fetch_add_lock: lock() is one atomic fetch_add (a read-modify-write
//    with acquire-release order, what a lock's acquire needs at least once),
//    unlock() nothing: the floor for a lock that takes an atomic
//    instruction, about what a test-and-set lock can hope for.
// Neither excludes anyone, so lockbench measures them uncontended only
// (lock_entry::baseline) and never counts them as broken locks.
#pragma once

#include <atomic>
#include <cstdint>

namespace lockbench::locks {

// The empty asm keeps the compiler from deleting the measuring loop (as it
// cannot with a real lock's atomics in it).
struct empty_lock {
  void lock() noexcept { asm volatile("" ::: "memory"); }
  void unlock() noexcept { asm volatile("" ::: "memory"); }
};

class fetch_add_lock {
 public:
  void lock() noexcept { count_.fetch_add(1, std::memory_order_acq_rel); }
  void unlock() noexcept {}

 private:
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace lockbench::locks
