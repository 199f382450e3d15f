// jiffy/spinlock.hpp — spinlocks that disable preemption while held.
//
//   jiffy::spinlock         test-and-test-and-set with backoff (spin/ttas.hpp)
//   jiffy::ticket_spinlock  FIFO ticket lock                   (spin/ticket.hpp)
//   jiffy::mcs_spinlock     FIFO queue lock, kernel qspinlock  (spin/mcs.hpp)
//   jiffy::rw_spinlock      readers–writer, writer-preferring  (spin/rw.hpp)
//   jiffy::seqlock          sequence lock; seqlocked<T>        (spin/seqlock.hpp)
//   jiffy::cache_padded<T>  keeps hot data off shared lines    (cache_padded.hpp)
//
// Rules, the same for every lock (spin/policy.hpp says why):
//  * lock() = preempt_disable() + acquire; unlock() = release +
//    preempt_enable(), which reschedules right there if a preemption was
//    deferred; try_lock() likewise, re-enabling on failure. A holder is never
//    preempted, so nobody spins for a holder that is switched out — even on
//    one worker.
//  * Lockable (and SharedLockable for rw_spinlock): std::lock_guard,
//    std::unique_lock, std::scoped_lock and std::shared_lock work. On plain
//    threads they are ordinary spinlocks.
//  * Holding one is "atomic context": yielding or blocking while holding it
//    aborts debug builds with "scheduling while atomic". Unlocking a lock that
//    is not held aborts debug builds with a message, where it can be detected.
//  * Capabilities for Clang's thread-safety analysis: data can be marked
//    JIFFY_GUARDED_BY(lock) and taken under jiffy::lock_guard /
//    jiffy::shared_lock_guard (thread_annotations.hpp, lock_guard.hpp).
//    try_lock() and try_lock_shared() are [[nodiscard]].
//  * The benchmarks compare each lock with a holder-preemptible twin, the
//    same algorithm without the preemption integration
//    (bench/holder_preemptible.hpp). The twins are not part of the API: a
//    holder switched out while others spin is what these locks exist to
//    prevent.
//  * Sizes: every lock is 4 bytes, 4-byte aligned, except seqlock (8 bytes).
#pragma once

#include <jiffy/cache_padded.hpp>
#include <jiffy/lock_guard.hpp>
#include <jiffy/spin/mcs.hpp>
#include <jiffy/spin/policy.hpp>
#include <jiffy/spin/rw.hpp>
#include <jiffy/spin/seqlock.hpp>
#include <jiffy/spin/ticket.hpp>
#include <jiffy/spin/ttas.hpp>

namespace jiffy {
static_assert(sizeof(spinlock) == 4 && alignof(spinlock) == 4);
static_assert(sizeof(ticket_spinlock) == 4 && alignof(ticket_spinlock) == 4);
static_assert(sizeof(mcs_spinlock) == 4 && alignof(mcs_spinlock) == 4);
static_assert(sizeof(rw_spinlock) == 4 && alignof(rw_spinlock) == 4);
static_assert(sizeof(seqlock) == 8 && alignof(seqlock) == 4);
}  // namespace jiffy
