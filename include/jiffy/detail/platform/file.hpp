// jiffy/detail/platform/file.hpp — writing a whole file (the trace
// recorder's output).
//
// Rules:
//  * Created or truncated, written with a write(2) loop, closed; every step
//    reports failure through errno, which the caller names in its message.
//  * Windows: CreateFileA(CREATE_ALWAYS), WriteFile, CloseHandle.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace jiffy::detail {

// errno's text, thread-safely (glibc's strerror_r returns the text; the XSI
// variant fills `buf`).
inline const char* strerror_text(const char* text, const char*) noexcept { return text; }
inline const char* strerror_text(int, const char* buf) noexcept { return buf; }
inline const char* describe_error(int err, char* buf, std::size_t size) noexcept {
  buf[0] = '\0';
  return strerror_text(::strerror_r(err, buf, size), buf);
}

class output_file {
 public:
  output_file() = default;
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() {
    if (fd_ >= 0) ::close(fd_);
  }

  [[nodiscard]] bool open(const char* path) noexcept {
    fd_ = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd_ >= 0;
  }
  [[nodiscard]] bool write(const char* buf, std::size_t len) noexcept {
    while (len > 0) {
      ssize_t r = ::write(fd_, buf, len);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      buf += r;
      len -= static_cast<std::size_t>(r);
    }
    return true;
  }
  [[nodiscard]] bool close() noexcept {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_ = -1;
};

}  // namespace jiffy::detail
