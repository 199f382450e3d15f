// jiffy/detail/futex.hpp — blocking an OS thread: futex wrappers and a
// one-shot thread parker.
//
// Rules:
//  * A parker belongs to one OS thread (thread_local, so its address stays
//    valid for the thread's life: a waker may still be inside futex_wake after
//    the parked thread has returned). Spurious wake-ups are allowed; every
//    wait re-checks its condition.
//  * unpark() publishes with release and park() observes with acquire, so
//    whatever the waker wrote before unpark() is visible after park().
#pragma once

#include <jiffy/detail/config.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <type_traits>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace jiffy::detail {

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

// Converts a time point of any clock to now_ns()'s time base.
template <class Clock, class Dur>
std::int64_t to_monotonic_ns(std::chrono::time_point<Clock, Dur> t) {
  using namespace std::chrono;
  if constexpr (std::is_same_v<Clock, steady_clock>) {
    return duration_cast<nanoseconds>(t.time_since_epoch()).count();
  } else {
    return now_ns() + duration_cast<nanoseconds>(t - Clock::now()).count();
  }
}

class thread_parker {
 public:
  // Returns true if unparked, false if the deadline passed first (the permit,
  // if it arrives later, stays for the next park()).
  bool park(std::int64_t deadline_ns = -1) noexcept {
    for (;;) {
      // acquire: pairs with unpark()'s release.
      if (permit_.exchange(0, std::memory_order_acquire)) return true;
      if (deadline_ns >= 0 && now_ns() >= deadline_ns) return false;
      futex_wait(&permit_, 0, deadline_ns);
    }
  }
  void unpark() noexcept {
    permit_.store(1, std::memory_order_release);
    futex_wake(&permit_);
  }

 private:
  std::atomic<std::uint32_t> permit_{0};
};

inline thread_parker& this_thread_parker() noexcept {
  static thread_local thread_parker p;
  return p;
}

}  // namespace jiffy::detail
