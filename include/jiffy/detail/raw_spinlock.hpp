// jiffy/detail/raw_spinlock.hpp — the runtime's own short lock.
//
// Rules:
//  * Guards run queues, wait lists and timer heaps for a few instructions.
//    Holding it raises the runtime part of the preempt count, so its holder
//    is never preempted (the kernel's raw_spin_lock does the same).
//  * A fiber that parks passes its held raw_spinlock to the scheduler, which
//    releases it on the next context, after the parked fiber's registers are
//    saved: that is what lets a waker take the fiber off a wait list and run
//    it on another worker without ever seeing a half-saved context.
//  * Plain threads use it too, so a waiter that has spun for long (its holder
//    may have been descheduled by the OS) falls back to sched_yield().
#pragma once

#include <jiffy/detail/preempt_count.hpp>

#include <atomic>
#include <thread>

namespace jiffy::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("isb" ::: "memory");
#endif
}

class raw_spinlock {
 public:
  // The uncontended paths are always inlined (GCC otherwise calls them out of
  // line from the spawn, join and wake paths); contention is out of line.
  [[gnu::always_inline]] void lock() noexcept {
    runtime_enter(this_cpu());
    acquire();
  }
  // One attempt; on success the caller holds it as after lock().
  [[nodiscard]] bool try_lock() noexcept {
    runtime_enter(this_cpu());
    // acquire: as in acquire().
    if (!locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire)) return true;
    runtime_exit(this_cpu());
    return false;
  }
  [[gnu::always_inline]] void unlock() noexcept {
    release();
    runtime_exit(this_cpu());
  }
  // The bare acquire/release, for a caller that manages the count itself.
  [[gnu::always_inline]] void acquire() noexcept {
    // acquire: the critical section reads what the previous holder wrote.
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    acquire_contended();
  }
  [[gnu::always_inline]] void release() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  // Out of line, so the uncontended lock() stays small enough to inline.
  [[gnu::noinline]] void acquire_contended() noexcept {
    unsigned spins = 0;
    do {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 1024)
          cpu_relax();
        else
          std::this_thread::yield();  // sched_yield() on Linux
      }
    } while (locked_.exchange(true, std::memory_order_acquire));  // acquire: as in acquire()
  }

  std::atomic<bool> locked_{false};
};

}  // namespace jiffy::detail
