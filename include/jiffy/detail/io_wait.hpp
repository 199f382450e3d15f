// jiffy/detail/io_wait.hpp — what a fiber calls to wait for a descriptor,
// and closing one safely.
//
// Rules (the design is in detail/netpoll.hpp):
//  * A descriptor joins the runtime's poller the first time a fiber waits
//    on it, edge-triggered; a remembered edge is consumed by the next wait.
//  * One waiter per direction; a second gets device_or_resource_busy.
//  * A plain thread has no poller of its own: it polls the descriptor
//    itself, in slices of at most 20 ms, so that close() from elsewhere still
//    ends its wait.
//  * close() marks the descriptor closed, wakes its waiters with
//    operation_canceled, waits for calls in progress to leave, then removes
//    it from the poller and closes the fd, so a call never reaches an fd
//    number the kernel may already have given to someone else.
#pragma once

#include <jiffy/detail/netpoll.hpp>
#include <jiffy/detail/netpoll_run.hpp>
#include <jiffy/detail/platform/poller.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/runtime_core.hpp>
#include <jiffy/detail/switch.hpp>
#include <jiffy/detail/wait.hpp>
#include <jiffy/detail/wake.hpp>

#include <cstdint>
#include <system_error>

namespace jiffy::detail {

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
    int r = wait_descriptor(pd->fd, dir == io_direction::read, static_cast<int>((slice + 999999) / 1000000));
    if (r > 0) return {};
    if (r < 0) return {-r, std::generic_category()};
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
  if (!pd->poller) {
    if (std::error_code ec = rt->poller.register_descriptor(pd)) {
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
  std::uint32_t how = block_waiter(wt, &pd->lock, deadline, "io", pd);
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
[[nodiscard]] inline bool enter_desc(poll_desc* pd) noexcept {
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
    // Waiting for them means yielding: a fiber may do so only while
    // preemptible (a switch would carry a raised count to another fiber's
    // slice, and let the fiber migrate). Debug builds report the misuse;
    // otherwise the thread yields instead, which still lets calls on other
    // workers leave.
    cpu_local* cpu = this_cpu();
    if (cpu->current && in_atomic(cpu)) debug_might_sleep("file::close() with calls in progress");
    if (cpu->current && !in_atomic(cpu))
      yield_fiber();
    else
      yield_thread();
  }
  pd->lock.lock();
  netpoller* poller = pd->poller;  // null if its runtime has stopped (forget_poller)
  pd->lock.unlock();
  if (poller) poller->os.unregister_descriptor(pd->fd);
  int err = close_descriptor(pd->fd);
  std::error_code ec = err == 0 ? std::error_code{} : std::error_code{err, std::generic_category()};
  poll_desc_pool::get().give_back(pd);
  return ec;
}

}  // namespace jiffy::detail
