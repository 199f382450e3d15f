// jiffy/detail/diag.hpp — fatal errors and bug reports.
//
// Rules:
//  * Everything here is async-signal-safe: messages are assembled in a stack
//    buffer and written with one write(2) to stderr; no stdio, no allocation.
//    The stack-overflow handler and the preemption signal use these.
//  * Every message starts with "jiffy: " so a user can grep for it.
#pragma once

#include <jiffy/detail/config.hpp>

#include <jiffy/detail/platform/console.hpp>

#include <cstdint>
#include <cstdlib>

namespace jiffy::detail {

// A fixed buffer that formats text and integers without libc's stdio.
class message {
 public:
  message& text(const char* s) noexcept {
    while (*s && len_ < sizeof buf_ - 1) buf_[len_++] = *s++;
    return *this;
  }
  message& signed_number(std::int64_t v) noexcept {
    if (v < 0) text("-");
    return number(v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v));
  }
  message& number(std::uint64_t v) noexcept {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n && len_ < sizeof buf_ - 1) buf_[len_++] = tmp[--n];
    return *this;
  }
  message& hex(std::uintptr_t v) noexcept {
    text("0x");
    char tmp[20];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v);
    while (n && len_ < sizeof buf_ - 1) buf_[len_++] = tmp[--n];
    return *this;
  }
  void write_line() noexcept {
    buf_[len_++] = '\n';
    write_to_stderr(buf_, len_);
    len_ = 0;
  }

 private:
  char buf_[256];
  std::size_t len_ = 0;
};

// Prints "jiffy: <what>" and aborts. For misuse that cannot be recovered from.
[[noreturn]] inline void fatal(const char* what) noexcept {
  message().text("jiffy: ").text(what).write_line();
  std::abort();
}

[[noreturn]] inline void fatal(message& m) noexcept {
  m.write_line();
  std::abort();
}

}  // namespace jiffy::detail
