// jiffy/detail/netpoll.hpp — I/O readiness for fibers: one epoll per runtime.
//
// The rules of this file, before the code.
//
// Descriptors.  Each file descriptor used for fiber I/O has a poll_desc:
// readiness flags and at most one waiting reader and one waiting writer,
// under a small lock. poll_descs are pooled and never freed: epoll may still
// report an event for a descriptor after it was closed (another worker can be
// processing it), and a stale event on a reused poll_desc is only a spurious
// readiness, which every waiter tolerates (it retries the call, gets EAGAIN,
// and waits again).
//
// Edge-triggered.  A descriptor is added once, for EPOLLIN | EPOLLOUT |
// EPOLLRDHUP with EPOLLET. An edge with nobody waiting sets the readiness
// flag; the next wait consumes it. An edge with a waiter hands the readiness
// straight to it. Both happen under the descriptor's lock, so an edge between
// a call's EAGAIN and its wait is never lost.
//
// Who polls.  A worker that has nothing to run becomes the poll owner (one at
// a time) and sleeps in epoll_pwait2 until the earliest timer, instead of on
// its futex; waking it writes an eventfd that is part of the epoll set. While
// every worker is busy, a worker polls without blocking every 61 scheduling
// decisions if nobody has polled for a millisecond, and the monitor thread
// does if nobody has for 10 ms. Fibers made ready by a poll go to the
// poller's run queue and idle workers are woken to share them.
//
// Waiting and waking use the scheduler's waiter protocol (claim under the
// descriptor's lock, deliver after it), so a waiter that timed out and a
// readiness event never both wake it, and a closed descriptor wakes its
// waiters with an error.
//
// Closing.  close() marks the descriptor closed, wakes its waiters, waits for
// calls still inside it to leave, then removes it from epoll and closes the
// fd — so a call never reaches an fd number the kernel may already have
// given to someone else.
#pragma once

#include <jiffy/detail/scheduler.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace jiffy::detail {

struct poll_desc {
  raw_spinlock lock;
  int fd = -1;
  runtime_core* rt = nullptr;  // whose epoll it is in (null: none yet)
  bool closed = false;
  bool readable = false, writable = false;  // an edge seen with nobody waiting
  waiter* reader = nullptr;
  waiter* writer = nullptr;
  unsigned users = 0;  // calls inside this descriptor right now
  poll_desc* next_free = nullptr;
};

class poll_desc_pool {
 public:
  static poll_desc_pool& get() noexcept {
    static poll_desc_pool p;
    return p;
  }
  poll_desc* take(int fd) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!free_) {
      chunks_.push_back(std::make_unique<poll_desc[]>(chunk));
      for (std::size_t i = 0; i < chunk; ++i) {
        chunks_.back()[i].next_free = free_;
        free_ = &chunks_.back()[i];
      }
    }
    poll_desc* pd = free_;
    free_ = pd->next_free;
    pd->lock.lock();
    pd->fd = fd;
    pd->rt = nullptr;
    pd->closed = false;
    pd->readable = pd->writable = false;
    pd->reader = pd->writer = nullptr;
    pd->users = 0;
    pd->lock.unlock();
    return pd;
  }
  void give_back(poll_desc* pd) {
    std::lock_guard<std::mutex> lk(mu_);
    pd->next_free = free_;
    free_ = pd;
  }

 private:
  static constexpr std::size_t chunk = 256;
  std::mutex mu_;
  std::vector<std::unique_ptr<poll_desc[]>> chunks_;
  poll_desc* free_ = nullptr;
};

// ---------------------------------------------------------------------------
// The poller.

inline void netpoll_init(runtime_core* rt) noexcept {
  rt->epfd = ::epoll_create1(EPOLL_CLOEXEC);
  rt->wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (rt->epfd < 0 || rt->wakefd < 0) fatal("cannot create the runtime's epoll instance or eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = nullptr;  // the wake-up eventfd
  ::epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->wakefd, &ev);
}

inline void netpoll_shutdown(runtime_core* rt) noexcept {
  if (rt->epfd >= 0) ::close(rt->epfd);
  if (rt->wakefd >= 0) ::close(rt->wakefd);
  rt->epfd = rt->wakefd = -1;
}

inline void netpoll_wake(runtime_core* rt) noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(rt->wakefd, &one, sizeof one);
}

inline std::error_code netpoll_register(runtime_core* rt, poll_desc* pd) noexcept {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = pd;
  sanitizer_release(pd);  // the poller that gets pd back from the kernel sees it built
  if (::epoll_ctl(rt->epfd, EPOLL_CTL_ADD, pd->fd, &ev) != 0) return {errno, std::generic_category()};
  pd->rt = rt;
  return {};
}

// epoll_pwait2 (nanosecond timeouts, Linux 5.11+) where the kernel has it;
// epoll_wait (milliseconds, rounded up) where it answers ENOSYS — older
// kernels, and qemu-user.
inline int epoll_wait_until(int epfd, epoll_event* events, int max, std::int64_t deadline) noexcept {
  static std::atomic<int> have_pwait2{-1};  // -1 unknown, 0 no, 1 yes
  std::int64_t left = 0;
  timespec ts{};
  if (deadline != no_deadline) {
    left = deadline - now_ns();
    if (left < 0) left = 0;
    ts = timespec{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
  }
  if (have_pwait2.load(std::memory_order_relaxed) != 0) {
    int n = ::epoll_pwait2(epfd, events, max, deadline == no_deadline ? nullptr : &ts, nullptr);
    if (!(n < 0 && errno == ENOSYS)) {
      have_pwait2.store(1, std::memory_order_relaxed);
      return n;
    }
    have_pwait2.store(0, std::memory_order_relaxed);
  }
  int ms = deadline == no_deadline ? -1 : static_cast<int>(left > 2000000000000 ? 2000000000 : (left + 999999) / 1000000);
  return ::epoll_wait(epfd, events, max, ms);
}

// One poll: waits until `deadline` (now_ns() base; 0 = do not wait,
// no_deadline = until an event), then wakes the fibers and threads whose
// descriptors became ready. Runs inside the runtime section.
inline int netpoll_poll(runtime_core* rt, std::int64_t deadline) noexcept {
  epoll_event events[128];
  int n = epoll_wait_until(rt->epfd, events, 128, deadline);
  rt->last_poll.store(now_ns(), std::memory_order_relaxed);
  waiter* ready = nullptr;  // claimed waiters, linked through wnext
  for (int i = 0; i < n; ++i) {
    auto* pd = static_cast<poll_desc*>(events[i].data.ptr);
    if (!pd) {
      std::uint64_t drain;
      while (::read(rt->wakefd, &drain, sizeof drain) > 0) {
      }
      continue;
    }
    sanitizer_acquire(pd);
    std::uint32_t e = events[i].events;
    bool in = e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool out = e & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    pd->lock.lock();
    if (in) {
      if (pd->reader && claim_waiter(pd->reader)) {
        pd->reader->wnext = ready;
        ready = pd->reader;
        pd->reader = nullptr;
      } else {
        pd->readable = true;
      }
    }
    if (out) {
      if (pd->writer && claim_waiter(pd->writer)) {
        pd->writer->wnext = ready;
        ready = pd->writer;
        pd->writer = nullptr;
      } else {
        pd->writable = true;
      }
    }
    pd->lock.unlock();
  }
  while (ready) {
    waiter* next = ready->wnext;  // read before delivery: the waiter may be gone after it
    if (fiber_control* f = ready->fiber)
      make_runnable(f, ready_reason::spawned);  // spread them: idle workers get woken
    else
      deliver(ready);
    ready = next;
  }
  return n;
}

// A non-blocking look at the network, by whoever is not idle (the monitor, a
// busy worker): claim the poller, poll, release it. seq_cst, with the idle
// worker's sleepers increment and its own claim in netpoll_block: if its
// claim saw ours, our release sees it among the sleepers.
inline bool netpoll_claim_for_look(runtime_core* rt) noexcept {
  bool expected = false;
  return rt->poll_busy.compare_exchange_strong(expected, true, std::memory_order_seq_cst);
}

// A worker that went idle while we held the poller found it taken and sleeps
// on its futex: with nobody left in the poller, readiness would go unseen
// until some worker woke for another reason (with every worker idle and the
// monitor asleep: never). So wake one to take the poller over.
//
// A handshake with worker_idle (it counts itself a sleeper, then tries the
// poller): either it finds the poller free, or we see it sleeping.
inline void netpoll_release_after_look(runtime_core* rt) noexcept {
  rt->poll_busy.store(false, std::memory_order_release);  // the next owner sees what this look did
  store_load_barrier();
  if (rt->sleepers.load(std::memory_order_relaxed) > 0) wake_one_idle(rt);
}

// Polls without waiting if nobody else is polling and nobody has for
// `stale_ns`. From busy workers and the monitor.
inline void netpoll_if_stale(runtime_core* rt, std::int64_t stale_ns) noexcept {
  if (rt->epfd < 0) return;
  if (now_ns() - rt->last_poll.load(std::memory_order_relaxed) < stale_ns) return;
  if (!netpoll_claim_for_look(rt)) return;
  netpoll_poll(rt, 0);
  netpoll_release_after_look(rt);
}

// The idle worker's sleep, in the poller. Returns false if another worker is
// the poll owner (the caller then sleeps on its futex).
inline bool netpoll_block(worker* w, std::int64_t deadline) noexcept {
  runtime_core* rt = w->rt;
  bool expected = false;
  if (!rt->poll_busy.compare_exchange_strong(expected, true, std::memory_order_seq_cst)) return false;
  // A handshake with wake_worker_locked (it stores sleep_word, then loads
  // `polling`): either we see the wake here, or it sees us polling and
  // writes the eventfd.
  w->polling.store(true, std::memory_order_relaxed);
  store_load_barrier();
  if (w->sleep_word.load(std::memory_order_relaxed) == 0) netpoll_poll(rt, deadline);
  w->polling.store(false, std::memory_order_relaxed);
  rt->poll_busy.store(false, std::memory_order_release);
  return true;
}

// ---------------------------------------------------------------------------
// Waiting for readiness.

enum class io_direction { read, write };

// A plain thread has no poller of its own: it polls the fd itself, in slices,
// so that close() from elsewhere still ends its wait.
inline std::error_code thread_wait_ready(poll_desc* pd, io_direction dir, std::int64_t deadline) noexcept {
  for (;;) {
    pd->lock.lock();
    bool closed = pd->closed;
    pd->lock.unlock();
    if (closed) return std::make_error_code(std::errc::operation_canceled);
    std::int64_t now = now_ns();
    if (now >= deadline) return std::make_error_code(std::errc::timed_out);
    std::int64_t slice = deadline - now;
    if (slice > 20000000) slice = 20000000;
    pollfd p{pd->fd, static_cast<short>(dir == io_direction::read ? POLLIN | POLLRDHUP : POLLOUT), 0};
    int r = ::poll(&p, 1, static_cast<int>((slice + 999999) / 1000000));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return {errno, std::generic_category()};
  }
}

// Parks the calling fiber until the descriptor is ready in `dir`, the
// deadline passes (timed_out) or the descriptor is closed
// (operation_canceled). On a plain thread, blocks the thread.
inline std::error_code wait_ready(poll_desc* pd, io_direction dir, std::int64_t deadline) noexcept {
  cpu_local* cpu = this_cpu();
  if (!cpu->current) return thread_wait_ready(pd, dir, deadline);
  debug_might_sleep(dir == io_direction::read ? "waiting for a readable fd" : "waiting for a writable fd");
  runtime_core* rt = cpu->w->rt;
  pd->lock.lock();
  if (!pd->rt) {
    if (std::error_code ec = netpoll_register(rt, pd)) {
      pd->lock.unlock();
      return ec;
    }
  }
  bool& ready = dir == io_direction::read ? pd->readable : pd->writable;
  waiter*& slot = dir == io_direction::read ? pd->reader : pd->writer;
  if (pd->closed) {
    pd->lock.unlock();
    return std::make_error_code(std::errc::operation_canceled);
  }
  if (ready) {
    ready = false;
    pd->lock.unlock();
    return {};
  }
  if (slot) {
    pd->lock.unlock();
    return std::make_error_code(std::errc::device_or_resource_busy);  // one waiter per direction
  }
  if (deadline <= now_ns()) {
    pd->lock.unlock();
    return std::make_error_code(std::errc::timed_out);
  }
  waiter wt;
  slot = &wt;
  std::uint32_t how = block_waiter(wt, &pd->lock, deadline);
  pd->lock.lock();
  if (slot == &wt) slot = nullptr;  // timed out: still registered
  bool closed = pd->closed;
  pd->lock.unlock();
  if (closed) return std::make_error_code(std::errc::operation_canceled);
  if (how == wait_timed_out) return std::make_error_code(std::errc::timed_out);
  return {};
}

// Brackets a call on the descriptor: refuses once it is closed, and lets
// close() wait for calls in progress.
inline bool enter_desc(poll_desc* pd) noexcept {
  pd->lock.lock();
  bool ok = !pd->closed;
  if (ok) ++pd->users;
  pd->lock.unlock();
  return ok;
}
inline void leave_desc(poll_desc* pd) noexcept {
  pd->lock.lock();
  --pd->users;
  pd->lock.unlock();
}

// Closes: wakes waiters with operation_canceled, waits for calls in progress
// to leave, then removes the fd from epoll and closes it. Returns close(2)'s
// error, if any.
inline std::error_code close_desc(poll_desc* pd) noexcept {
  pd->lock.lock();
  if (pd->closed) {
    pd->lock.unlock();
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  pd->closed = true;
  waiter* r = pd->reader && claim_waiter(pd->reader) ? pd->reader : nullptr;
  waiter* w = pd->writer && claim_waiter(pd->writer) ? pd->writer : nullptr;
  pd->reader = pd->writer = nullptr;
  pd->lock.unlock();
  if (r) deliver(r);
  if (w) deliver(w);
  for (;;) {  // calls still inside will see `closed` and leave
    pd->lock.lock();
    unsigned users = pd->users;
    pd->lock.unlock();
    if (!users) break;
    if (this_cpu()->current)
      yield_fiber();
    else
      ::sched_yield();
  }
  if (pd->rt) ::epoll_ctl(pd->rt->epfd, EPOLL_CTL_DEL, pd->fd, nullptr);
  int rc = ::close(pd->fd);
  std::error_code ec = rc == 0 ? std::error_code{} : std::error_code{errno, std::generic_category()};
  poll_desc_pool::get().give_back(pd);
  return ec;
}

}  // namespace jiffy::detail
