// jiffy/detail/netpoll.hpp — I/O readiness for fibers: one epoll per runtime.
//
// The rules of this file, before the code.
//
// Descriptors.  Each file descriptor used for fiber I/O has a poll_desc:
// readiness flags and at most one waiting reader and one waiting writer,
// under a small lock. poll_descs are pooled, in chunks mapped from the OS
// (not the heap: runtime_options::allocator's rules), and never freed: epoll may still
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
// does if nobody has for half a quantum under `voluntary` and `full` (10 ms
// under `none`). Fibers made ready by a poll are spread over the run queues
// and idle workers are woken to share them.
//
// Files.  This one owns the poller's state (netpoller) and the descriptors;
// netpoll_run.hpp polls and hands readiness to waiters; io_wait.hpp is what
// a fiber calls to wait for a descriptor and to close it.
//
// Waiting and waking use the waiter protocol (detail/waiter.hpp) (claim under the
// descriptor's lock, deliver after it), so a waiter that timed out and a
// readiness event never both wake it, and a closed descriptor wakes its
// waiters with an error.
//
// Closing.  close() marks the descriptor closed, wakes its waiters, waits for
// calls still inside it to leave, then removes it from epoll and closes the
// fd — so a call never reaches an fd number the kernel may already have
// given to someone else.
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/platform/memory.hpp>
#include <jiffy/detail/platform/poller.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/sanitizers.hpp>
#include <jiffy/detail/time.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <system_error>

namespace jiffy::detail {

struct waiter;
struct netpoller;

struct poll_desc {
  raw_spinlock lock;
  int fd = -1;
  netpoller* poller = nullptr;  // whose epoll it is in (null: none yet)
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
  // Both run in preemptible code on every open and close: the pool's lock is
  // a raw_spinlock (it raises the count), so its holder is never preempted
  // with a waiter blocking the worker behind it. A fresh chunk is allocated
  // outside the lock.
  [[nodiscard]] poll_desc* take(int fd) {
    poll_desc* pd = pop_free();
    while (!pd) {
      void* mem = map_memory(sizeof(desc_chunk));
      if (!mem) fatal("cannot map memory for more I/O descriptors (out of memory or address space)");
      auto* fresh = ::new (mem) desc_chunk();
      mu_.lock();
      for (poll_desc& d : fresh->descs) {
        d.next_free = free_;
        free_ = &d;
      }
      fresh->next = chunks_;
      chunks_ = fresh;
      mu_.unlock();
      pd = pop_free();
    }
    pd->lock.lock();
    pd->fd = fd;
    pd->poller = nullptr;
    pd->closed = false;
    pd->readable = pd->writable = false;
    pd->reader = pd->writer = nullptr;
    pd->users = 0;
    pd->lock.unlock();
    return pd;
  }
  // A runtime stopping: descriptors still open (a jiffy::file that outlives
  // its runtime) forget its poller, whose epoll set is gone with it, so that
  // their close() later does not reach into the freed runtime.
  void forget_poller(const netpoller* p) noexcept {
    mu_.lock();
    for (desc_chunk* c = chunks_; c; c = c->next)
      for (poll_desc& pd : c->descs) {
        pd.lock.lock();
        if (pd.poller == p) pd.poller = nullptr;
        pd.lock.unlock();
      }
    mu_.unlock();
  }
  void give_back(poll_desc* pd) noexcept {
    mu_.lock();
    pd->next_free = free_;
    free_ = pd;
    mu_.unlock();
  }

 private:
  poll_desc* pop_free() noexcept {
    mu_.lock();
    poll_desc* pd = free_;
    if (pd) free_ = pd->next_free;
    mu_.unlock();
    return pd;
  }

  struct desc_chunk {
    poll_desc descs[256];
    desc_chunk* next = nullptr;
  };
  raw_spinlock mu_;               // guards chunks_ and free_
  desc_chunk* chunks_ = nullptr;  // every chunk ever mapped, newest first
  poll_desc* free_ = nullptr;
};

// ---------------------------------------------------------------------------
// The poller's state, one per runtime.

struct netpoller {
  os_poller os;
  std::atomic<bool> busy{false};           // someone owns the poller: inside a wait, or taking a look
  std::atomic<std::int64_t> last_poll{0};  // when the last poll returned (now_ns)

  void open() noexcept {
    if (!os.open()) fatal("cannot create the runtime's epoll instance or eventfd");
  }
  void close() noexcept {
    poll_desc_pool::get().forget_poller(this);
    os.close();
  }
  // Ends a blocking poll in progress (the owner then looks for work).
  void interrupt() const noexcept { os.interrupt(); }

  std::error_code register_descriptor(poll_desc* pd) noexcept {
    sanitizer_release(pd);  // the poller that gets pd back from the kernel sees it built
    if (std::error_code ec = os.register_descriptor(pd->fd, pd)) return ec;
    pd->poller = this;
    return {};
  }
};

}  // namespace jiffy::detail
