// jiffy/detail/platform/console.hpp — writing a diagnostic line to stderr.
//
// Rules:
//  * Async-signal-safe: one write(2) loop, no stdio, no allocation; the
//    stack-overflow and preemption handlers print through it.
//  * Windows: WriteFile on GetStdHandle(STD_ERROR_HANDLE).
#pragma once

#include <cstddef>
#include <unistd.h>

namespace jiffy::detail {

inline void write_to_stderr(const char* buf, std::size_t len) noexcept {
  std::size_t off = 0;
  while (off < len) {
    ssize_t r = ::write(2, buf + off, len - off);
    if (r <= 0) break;
    off += static_cast<std::size_t>(r);
  }
}

}  // namespace jiffy::detail
