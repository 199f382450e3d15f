// jiffy/io.hpp — I/O on any file descriptor that parks the calling fiber, not
// its worker.
//
// Rules:
//  * jiffy::file owns a descriptor (RAII) and makes it non-blocking. Its calls
//    retry EINTR, and on EAGAIN park the calling fiber in the runtime's
//    netpoller until the descriptor is ready (detail/netpoll.hpp); called
//    from a plain thread they simply block it.
//  * Every call takes an optional deadline (a steady_clock time point; see
//    jiffy::after()) and returns io_result<T>: a value, or a std::error_code
//    (std::errc::timed_out when the deadline passes). No exceptions.
//  * close() wakes every fiber waiting on the descriptor with
//    std::errc::operation_canceled, waits for calls in progress to leave, and
//    only then closes the fd, so no call ever reaches a recycled fd number.
//  * At most one fiber may wait to read and one to write on a descriptor at a
//    time; another gets std::errc::device_or_resource_busy.
#pragma once

#include <jiffy/deadline.hpp>
#include <jiffy/detail/io_wait.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <fcntl.h>
#include <string>
#include <sys/uio.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace jiffy {

// A value or an error: `if (auto r = f.read(...)) use(r.value); else
// report(r.error);`.
template <class T>
struct [[nodiscard]] io_result {
  T value{};
  std::error_code error;
  bool ok() const noexcept { return !error; }
  explicit operator bool() const noexcept { return ok(); }
};

// jiffy's own I/O conditions, beside the system's errno values.
enum class io_errc { end_of_stream = 1 };

namespace detail {
struct io_error_category final : std::error_category {
  const char* name() const noexcept override { return "jiffy.io"; }
  std::string message(int c) const override {
    return c == static_cast<int>(io_errc::end_of_stream) ? "end of stream before the requested bytes arrived"
                                                         : "unknown jiffy I/O condition";
  }
};
// At namespace scope, constructed before main: a function-local static would
// be initialised under a guard (a lock jiffy cannot see) by the first fiber
// to need it, in preemptible code.
inline const io_error_category io_error_category_instance{};
}  // namespace detail

inline const std::error_category& io_category() noexcept { return detail::io_error_category_instance; }
inline std::error_code make_error_code(io_errc e) noexcept { return {static_cast<int>(e), io_category()}; }

class file {
 public:
  file() noexcept = default;
  // Takes ownership of `fd` and makes it non-blocking.
  explicit file(int fd) noexcept {
    if (fd < 0) return;
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK)) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    pd_.store(detail::poll_desc_pool::get().take(fd), std::memory_order_relaxed);
  }
  file(file&& o) noexcept : pd_(o.pd_.exchange(nullptr, std::memory_order_acq_rel)) {}
  file& operator=(file&& o) noexcept {
    if (this != &o) {
      close();
      pd_.store(o.pd_.exchange(nullptr, std::memory_order_acq_rel), std::memory_order_release);
    }
    return *this;
  }
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file() { close(); }

  bool is_open() const noexcept { return pd_.load(std::memory_order_acquire) != nullptr; }
  explicit operator bool() const noexcept { return is_open(); }
  int native_handle() const noexcept {
    detail::poll_desc* pd = pd_.load(std::memory_order_acquire);
    return pd ? pd->fd : -1;
  }

  // Wakes waiters with operation_canceled, then closes. Closing a closed
  // file returns bad_file_descriptor. May be called while other fibers or
  // threads are inside calls on this file.
  std::error_code close() noexcept {
    detail::poll_desc* pd = pd_.exchange(nullptr, std::memory_order_acq_rel);
    if (!pd) return std::make_error_code(std::errc::bad_file_descriptor);
    return detail::close_desc(pd);
  }

  io_result<std::size_t> read(void* buf, std::size_t n, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::read, d, [&](int fd) { return ::read(fd, buf, n); });
  }
  io_result<std::size_t> write(const void* buf, std::size_t n, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::write, d, [&](int fd) { return ::write(fd, buf, n); });
  }
  io_result<std::size_t> readv(const iovec* iov, int count, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::read, d, [&](int fd) { return ::readv(fd, iov, count); });
  }
  io_result<std::size_t> writev(const iovec* iov, int count, deadline d = no_deadline) noexcept {
    return io(detail::io_direction::write, d, [&](int fd) { return ::writev(fd, iov, count); });
  }

  std::error_code wait_readable(deadline d = no_deadline) noexcept { return wait(detail::io_direction::read, d); }
  std::error_code wait_writable(deadline d = no_deadline) noexcept { return wait(detail::io_direction::write, d); }

 protected:
  // Runs op(fd) until it succeeds or fails with something other than EINTR
  // or EAGAIN, parking on EAGAIN.
  // The descriptor is read once: close() may clear pd_ meanwhile, and waits
  // for this call to leave (enter_desc/leave_desc) before recycling it.
  template <class Op>
  io_result<std::size_t> io(detail::io_direction dir, deadline d, Op op) noexcept {
    detail::poll_desc* pd = pd_.load(std::memory_order_acquire);
    if (!pd) return {0, std::make_error_code(std::errc::bad_file_descriptor)};
    if (!detail::enter_desc(pd)) return {0, std::make_error_code(std::errc::operation_canceled)};
    std::int64_t dl = detail::to_monotonic_ns(d);
    io_result<std::size_t> r;
    for (;;) {
      ssize_t n = op(pd->fd);
      if (n >= 0) {
        r.value = static_cast<std::size_t>(n);
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        r.error = {errno, std::generic_category()};
        break;
      }
      if ((r.error = detail::wait_ready(pd, dir, dl))) break;
    }
    detail::leave_desc(pd);
    return r;
  }

  std::error_code wait(detail::io_direction dir, deadline d) noexcept {
    detail::poll_desc* pd = pd_.load(std::memory_order_acquire);
    if (!pd) return std::make_error_code(std::errc::bad_file_descriptor);
    if (!detail::enter_desc(pd)) return std::make_error_code(std::errc::operation_canceled);
    std::error_code ec = detail::wait_ready(pd, dir, detail::to_monotonic_ns(d));
    detail::leave_desc(pd);
    return ec;
  }

  std::atomic<detail::poll_desc*> pd_{nullptr};
};

}  // namespace jiffy

template <>
struct std::is_error_code_enum<jiffy::io_errc> : std::true_type {};
