// jiffy/detail/time.hpp — the runtime's one time base.
//
// Rules:
//  * Time is monotonic nanoseconds (now_ns()): steady_clock, which is
//    CLOCK_MONOTONIC on Linux, the clock futex and epoll deadlines use.
//  * Conversions saturate at no_deadline_ns instead of overflowing: a
//    wait_for(nanoseconds::max()) means "forever", not a time in the past.
//  * No OS header here: the spinlocks' backoff uses this file and must not
//    pull in the scheduler's platform layer.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace jiffy::detail {

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "No deadline": later than any time now_ns() will reach. The public
// jiffy::no_deadline (deadline.hpp) is this instant as a time_point.
inline constexpr std::int64_t no_deadline_ns = std::numeric_limits<std::int64_t>::max();

// now_ns() + d, saturating at no_deadline_ns.
template <class Rep, class Period>
std::int64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  using namespace std::chrono;
  std::int64_t now = now_ns();
  if (d <= d.zero()) return now;
  if (d >= hours(24 * 365 * 200)) return no_deadline_ns;
  std::int64_t ns = duration_cast<nanoseconds>(d).count();
  return ns > no_deadline_ns - now ? no_deadline_ns : now + ns;
}

// A time point of any clock in now_ns()'s time base, saturating likewise.
// A steady_clock time point is already in the time base: converted exactly,
// without reading the clock. (Measured against a fresh reading of each
// clock, a deadline would move later by the time between the two reads —
// microseconds, or milliseconds for a thread descheduled in between — and
// two deadlines a microsecond apart could swap.) Another clock's is placed
// by the distance from its own now.
template <class Clock, class Dur>
std::int64_t to_monotonic_ns(std::chrono::time_point<Clock, Dur> t) noexcept {
  using namespace std::chrono;
  if constexpr (std::is_same_v<Clock, steady_clock>) {
    if (duration<double, std::nano>(t.time_since_epoch()).count() >= static_cast<double>(no_deadline_ns))
      return no_deadline_ns;
    return duration_cast<nanoseconds>(t.time_since_epoch()).count();
  } else {
    auto now = Clock::now();
    if (t <= now) return now_ns();
    return deadline_after(t - now);
  }
}

}  // namespace jiffy::detail
