// jiffy/detail/platform/poller.hpp — the kernel's readiness queue (epoll)
// and a way to interrupt a wait in it (an eventfd in the set).
//
// Rules:
//  * Descriptors are registered once, edge-triggered, for both directions;
//    the registration carries a pointer handed back with each event.
//  * A wait has a deadline in now_ns()'s base: 0 polls without waiting,
//    no_deadline_ns waits until an event.
//  * The wake-up descriptor reports itself with a null pointer.
//  * Windows: an I/O completion port (completion, not readiness: the port
//    keeps per-operation state instead; docs/design.md).
#pragma once

#include <jiffy/detail/time.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace jiffy::detail {

struct poll_event {
  void* ptr;  // what register_descriptor was given; nullptr for the wake-up
  bool readable, writable;
};

struct os_poller {
  int epfd = -1, wakefd = -1;

  // Returns false if the kernel refuses either descriptor.
  bool open() noexcept {
    epfd = ::epoll_create1(EPOLL_CLOEXEC);
    wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd < 0 || wakefd < 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = nullptr;  // the wake-up eventfd
    return ::epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) == 0;
  }
  void close() noexcept {
    if (epfd >= 0) ::close(epfd);
    if (wakefd >= 0) ::close(wakefd);
    epfd = wakefd = -1;
  }
  bool is_open() const noexcept { return epfd >= 0; }

  // Interrupts a wait in progress (or makes the next one return at once).
  void interrupt() const noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wakefd, &one, sizeof one);
  }
  void drain_interrupts() const noexcept {
    std::uint64_t drain;
    while (::read(wakefd, &drain, sizeof drain) > 0) {
    }
  }

  std::error_code register_descriptor(int fd, void* ptr) const noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = ptr;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return {errno, std::generic_category()};
    return {};
  }
  void unregister_descriptor(int fd) const noexcept { ::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr); }

  // Waits for events until `deadline`; fills out[0..n) and returns n (0 on
  // time-out or interruption by a signal).
  int wait(poll_event* out, int max, std::int64_t deadline) const noexcept {
    epoll_event events[128];
    if (max > 128) max = 128;
    int n = wait_until(events, max, deadline);
    for (int i = 0; i < n; ++i) {
      std::uint32_t e = events[i].events;
      out[i].ptr = events[i].data.ptr;
      out[i].readable = e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
      out[i].writable = e & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    }
    return n < 0 ? 0 : n;
  }

  // Whether a wait's deadline is kept to the nanosecond (epoll_pwait2 known
  // to work), not rounded up to a millisecond.
  static bool precise_timeouts() noexcept { return pwait2_state().load(std::memory_order_relaxed) == 1; }

 private:
  static std::atomic<int>& pwait2_state() noexcept {
    static std::atomic<int> state{-1};  // -1 unknown, 0 no, 1 yes
    return state;
  }
  // epoll_pwait2 (nanosecond timeouts, Linux 5.11+) where the kernel has it;
  // epoll_wait (milliseconds, rounded up) where it answers ENOSYS — older
  // kernels, and qemu-user.
  int wait_until(epoll_event* events, int max, std::int64_t deadline) const noexcept {
    std::atomic<int>& have_pwait2 = pwait2_state();
    std::int64_t left = 0;
    timespec ts{};
    if (deadline != no_deadline_ns) {
      left = deadline - now_ns();
      if (left < 0) left = 0;
      ts = timespec{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    }
    if (have_pwait2.load(std::memory_order_relaxed) != 0) {
      int n = ::epoll_pwait2(epfd, events, max, deadline == no_deadline_ns ? nullptr : &ts, nullptr);
      if (!(n < 0 && errno == ENOSYS)) {
        have_pwait2.store(1, std::memory_order_relaxed);
        return n;
      }
      have_pwait2.store(0, std::memory_order_relaxed);
    }
    int ms = deadline == no_deadline_ns
                 ? -1
                 : static_cast<int>(left > 2000000000000 ? 2000000000 : (left + 999999) / 1000000);
    return ::epoll_wait(epfd, events, max, ms);
  }
};

// For a plain thread, which has no poller of its own: waits up to
// `timeout_ms` for one descriptor. Returns 1 when ready, 0 on time-out or a
// signal, -errno on failure.
inline int wait_descriptor(int fd, bool for_read, int timeout_ms) noexcept {
  pollfd p{fd, static_cast<short>(for_read ? POLLIN | POLLRDHUP : POLLOUT), 0};
  int r = ::poll(&p, 1, timeout_ms);
  if (r > 0) return 1;
  if (r < 0 && errno != EINTR) return -errno;
  return 0;
}

// close(2); returns 0 or errno.
inline int close_descriptor(int fd) noexcept { return ::close(fd) == 0 ? 0 : errno; }

}  // namespace jiffy::detail
