// jiffy/detail/futex.hpp — blocking an OS thread, and the runtime's time base.
//
// Rules:
//  * futex_wait may return spuriously; every caller re-checks its condition.
//    futex_wake on an address whose object is gone is harmless (it wakes
//    nobody, or someone who re-checks), which is what lets a notifier wake
//    after its last real access to a waiter.
//  * A sleeper and its waker meet in a store-then-load handshake ("I publish
//    that I sleep, then look for work" / "I publish work, then look for
//    sleepers"). Each side puts store_load_barrier() between its store and
//    its load, rather than relying on seq_cst accesses alone. (A seq_cst
//    read-modify-write before the load also serves: it is a full barrier on
//    both targets and under qemu.)
//  * Time is CLOCK_MONOTONIC nanoseconds (now_ns()), the clock futex
//    deadlines use; conversions saturate at no_deadline instead of
//    overflowing.
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <limits>
#include <type_traits>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace jiffy::detail {

// Orders a store before a later load of another variable (the one ordering
// acquire/release leaves out), for the handshakes above: with one on each
// side, at least one side sees the other's store, so a wake-up cannot be
// lost. seq_cst store and load alone are enough for the C++ memory model and
// for ARMv8 hardware (STLR then LDAR), but qemu-user on an x86 host
// translates STLR/LDAR without the store-to-load barrier between them, and
// our AArch64 tests run there: a lost wake-up hung a worker in epoll_wait
// with work queued. A full fence (DMB ISH, MFENCE) is honoured everywhere,
// and these paths are on the way to or out of a sleep, where it costs
// nothing that matters.
inline void store_load_barrier() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }

// Waits while *word == expected, at most until `deadline_ns` on
// CLOCK_MONOTONIC (absolute; negative means no deadline).
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t deadline_ns = -1) noexcept {
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

// Monotonic nanoseconds, the runtime's single time base (steady_clock is
// CLOCK_MONOTONIC on Linux, which is also what the futex deadline uses).
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "No deadline": later than any time now_ns() will reach.
inline constexpr std::int64_t no_deadline = std::numeric_limits<std::int64_t>::max();

// now_ns() + d, saturating at no_deadline (a wait_for(nanoseconds::max())
// must mean "forever", not overflow into the past).
template <class Rep, class Period>
std::int64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  using namespace std::chrono;
  std::int64_t now = now_ns();
  if (d <= d.zero()) return now;
  if (d >= hours(24 * 365 * 200)) return no_deadline;
  std::int64_t ns = duration_cast<nanoseconds>(d).count();
  return ns > no_deadline - now ? no_deadline : now + ns;
}

// A time point of any clock in now_ns()'s time base, saturating likewise.
template <class Clock, class Dur>
std::int64_t to_monotonic_ns(std::chrono::time_point<Clock, Dur> t) noexcept {
  auto now = Clock::now();
  if (t <= now) return now_ns();
  return deadline_after(t - now);
}

}  // namespace jiffy::detail
