// jiffy/spin/rw.hpp — readers–writer spinlock: jiffy::rw_spinlock.
//
// Layout: one 32-bit word (4 bytes, 4-byte aligned): bit 31 a writer holds
// it, bits 24–30 count waiting writers (up to 127), bits 0–23 count readers.
//
// Rules:
//  * Many readers or one writer. Writer-preferring: while any writer waits,
//    new readers wait too, so a stream of readers cannot starve writers (and
//    readers do not slip in between waiting writers).
//  * Meets SharedLockable: std::shared_lock and std::unique_lock both work.
//  * Integrated: readers and writers hold with preemption disabled. A
//    waiting reader spins preemptibly; a waiting writer, which has announced
//    itself and so holds new readers back, waits with preemption disabled so
//    that it is running when its turn comes.
//  * A capability for Clang's thread-safety analysis (thread_annotations.hpp)
//    with a shared mode: JIFFY_GUARDED_BY(rw) data may be read under
//    lock_shared() and written only under lock().
#pragma once

#include <jiffy/spin/policy.hpp>
#include <jiffy/thread_annotations.hpp>

#include <atomic>
#include <cstdint>

namespace jiffy {
namespace detail {

// The algorithm, over a preemption policy (spin/policy.hpp). Only the
// integrated instantiation is public: jiffy::rw_spinlock.
template <class Preemption>
class JIFFY_CAPABILITY("spinlock") basic_rw_spinlock {
 public:
  basic_rw_spinlock() noexcept = default;
  basic_rw_spinlock(const basic_rw_spinlock&) = delete;
  basic_rw_spinlock& operator=(const basic_rw_spinlock&) = delete;

  void lock() noexcept JIFFY_ACQUIRE() {
    Preemption::disable();
    std::uint32_t v = 0;
    // acquire: the writer sees what earlier writers wrote.
    if (word_.compare_exchange_strong(v, writer_bit, std::memory_order_acquire, std::memory_order_relaxed)) return;
    // Announce ourselves (new readers now wait), then wait for the holders
    // to leave; taking the lock turns our waiting count into the writer bit.
    v = word_.fetch_add(one_waiting_writer, std::memory_order_relaxed) + one_waiting_writer;
    spin_wait w;
    for (;;) {
      if (!(v & (writer_bit | reader_mask))) {
        if (word_.compare_exchange_weak(v, v - one_waiting_writer + writer_bit, std::memory_order_acquire,
                                        std::memory_order_relaxed))
          return;
        continue;
      }
      w.wait();
      v = word_.load(std::memory_order_relaxed);
    }
  }

  [[nodiscard]] bool try_lock() noexcept JIFFY_TRY_ACQUIRE(true) {
    Preemption::disable();
    std::uint32_t v = word_.load(std::memory_order_relaxed);
    if (!(v & (writer_bit | reader_mask)) &&
        word_.compare_exchange_strong(v, v + writer_bit, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
    Preemption::enable();
    return false;
  }

  void unlock() noexcept JIFFY_RELEASE() {
    // Checked before the word changes (only the writer clears its bit).
    if constexpr (debug_checks)
      if (!(word_.load(std::memory_order_relaxed) & writer_bit)) unlock_not_held("rw_spinlock");
    // release: readers and writers that follow see this writer's writes.
    word_.fetch_sub(writer_bit, std::memory_order_release);
    Preemption::enable();
  }

  void lock_shared() noexcept JIFFY_ACQUIRE_SHARED() {
    Preemption::disable();
    if (try_add_reader()) return;
    spin_wait w;
    for (;;) {
      Preemption::enable();  // a reader waits preemptibly
      while (word_.load(std::memory_order_relaxed) & writers_mask) w.wait();
      Preemption::disable();
      if (try_add_reader()) return;
    }
  }

  [[nodiscard]] bool try_lock_shared() noexcept JIFFY_TRY_ACQUIRE_SHARED(true) {
    Preemption::disable();
    if (try_add_reader()) return true;
    Preemption::enable();
    return false;
  }

  void unlock_shared() noexcept JIFFY_RELEASE_SHARED() {
    // Checked before the word changes: with no reader counted, this call's
    // own reader cannot be among them.
    if constexpr (debug_checks)
      if ((word_.load(std::memory_order_relaxed) & reader_mask) == 0) unlock_not_held("rw_spinlock (shared)");
    // release: a writer that follows sees that our reads are done.
    word_.fetch_sub(1, std::memory_order_release);
    Preemption::enable();
  }

 private:
  // bit 31: a writer holds it; bits 24–30: writers waiting; bits 0–23: readers.
  static constexpr std::uint32_t writer_bit = 1u << 31, one_waiting_writer = 1u << 24;
  static constexpr std::uint32_t reader_mask = one_waiting_writer - 1, writers_mask = ~reader_mask;

  bool try_add_reader() noexcept {
    std::uint32_t v = word_.load(std::memory_order_relaxed);
    while (!(v & writers_mask))
      // acquire: the reader sees what the last writer wrote.
      if (word_.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    return false;
  }

  std::atomic<std::uint32_t> word_{0};
};

}  // namespace detail

using rw_spinlock = detail::basic_rw_spinlock<detail::integrate_preemption>;

}  // namespace jiffy
