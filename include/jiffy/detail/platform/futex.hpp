// jiffy/detail/platform/futex.hpp — blocking an OS thread on a 32-bit word.
//
// Rules:
//  * futex_wait may return spuriously (a signal, a stale wake); every caller
//    re-checks its condition.
//  * futex_wake on an address whose object is gone is harmless (it wakes
//    nobody, or someone who re-checks), which is what lets a notifier wake
//    after its last real access to a waiter.
//  * Deadlines are absolute CLOCK_MONOTONIC nanoseconds: now_ns()'s base
//    (detail/time.hpp).
//  * Windows: WaitOnAddress / WakeByAddressSingle (docs/design.md).
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace jiffy::detail {

// Waits while *word == expected, at most until `deadline_ns` on
// CLOCK_MONOTONIC (absolute; negative means no deadline).
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       std::int64_t deadline_ns = -1) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == 4);
  if (deadline_ns < 0) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
  } else {
    timespec ts{static_cast<time_t>(deadline_ns / 1000000000), static_cast<long>(deadline_ns % 1000000000)};
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, nullptr,
              FUTEX_BITSET_MATCH_ANY);
  }
}

inline void futex_wake(std::atomic<std::uint32_t>* word, int count = 1) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

}  // namespace jiffy::detail
