// jiffy/deadline.hpp — deadlines for every call that can wait.
//
// Rules:
//  * A deadline is a steady_clock time point; jiffy::after(d) makes one `d`
//    from now, saturating at no_deadline instead of overflowing (after() of
//    a huge duration means "never").
//  * jiffy::no_deadline is the one "wait forever": inside the runtime it is
//    detail::no_deadline_ns, the same instant in now_ns()'s time base.
#pragma once

#include <jiffy/detail/time.hpp>

#include <chrono>

namespace jiffy {

using deadline = std::chrono::steady_clock::time_point;
inline constexpr deadline no_deadline = deadline::max();

// A deadline `d` from now.
template <class Rep, class Period>
[[nodiscard]] deadline after(std::chrono::duration<Rep, Period> d) noexcept {
  auto now = std::chrono::steady_clock::now();
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(no_deadline - now)) return no_deadline;
  return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

}  // namespace jiffy
