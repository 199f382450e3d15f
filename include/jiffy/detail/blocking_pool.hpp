// jiffy/detail/blocking_pool.hpp — the helper threads that run
// jiffy::blocking() calls, and the hand-off between a parked fiber and the
// helper that runs its call.
//
// Rules:
//  * One pool per process, shared by every runtime (Go's threads for
//    blocking system calls, Tokio's spawn_blocking). It starts a helper when
//    a call arrives and more calls wait than helpers are idle, up to
//    max_threads; a helper idle for keep_alive exits. Calls beyond
//    max_threads wait in order (FIFO) for a helper.
//  * `lock_` (a raw_spinlock: plain threads and fibers both take it, and a
//    fiber holding it is not preempted) guards the queue and the counts.
//    Threads are started and woken after it is released.
//  * No lost wake-up: an idle helper reads `wake_word_` under `lock_` before
//    it sleeps on it, and a submitter bumps it under `lock_` before waking:
//    the helper either sees the bump and does not sleep, or is asleep and
//    woken.
//  * The job lives on the calling fiber's stack. The fiber holds the job's
//    `parked` lock from before it submits until it is off its stack (the
//    lock is handed to the scheduler like a wait list's: detail/wait.hpp);
//    the helper takes `parked` before it claims and delivers the waiter, so
//    it can never make the fiber runnable while it still runs. deliver() is
//    the helper's last touch of the job.
//  * The pool is never destroyed: detached helpers may outlive main().
#pragma once

#include <jiffy/detail/diag.hpp>
#include <jiffy/detail/platform/futex.hpp>
#include <jiffy/detail/platform/thread.hpp>
#include <jiffy/detail/raw_spinlock.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/detail/wait.hpp>
#include <jiffy/detail/wake.hpp>
#include <jiffy/detail/waiter.hpp>

#include <atomic>
#include <cstdint>
#include <new>

namespace jiffy::detail {

// One blocking() call: made by the fiber, run by a helper.
struct blocking_job {
  void (*run)(blocking_job*) noexcept = nullptr;  // runs the call and stores its outcome
  blocking_job* next = nullptr;
  raw_spinlock parked;  // held by the fiber until it is off its stack
  waiter wt;
};

class blocking_pool {
 public:
  static constexpr unsigned default_max_threads = 64;
  static constexpr std::int64_t default_keep_alive_ns = 10000000000;  // 10 s, as Tokio keeps its blocking threads

  static blocking_pool& get() noexcept {
    // Built in static storage and never destroyed (see the rules): no
    // allocation, and no destructor at exit under helpers still running.
    alignas(blocking_pool) static unsigned char storage[sizeof(blocking_pool)];
    static blocking_pool* pool = ::new (static_cast<void*>(storage)) blocking_pool();
    return *pool;
  }

  // Checked by the caller (jiffy::set_blocking_pool_options). Idle helpers
  // are woken to apply the new limits at once.
  void set_limits(unsigned max_threads, std::int64_t keep_alive_ns) noexcept {
    lock_.lock();
    max_threads_ = max_threads;
    keep_alive_ns_ = keep_alive_ns;
    wake_word_.fetch_add(1, std::memory_order_relaxed);  // under lock_: see the rules
    lock_.unlock();
    futex_wake(&wake_word_, 1 << 30);
  }

  struct counts {
    unsigned max_threads, threads, idle, queued, peak_threads;
    std::int64_t keep_alive_ns;
    std::uint64_t calls;
  };
  counts snapshot() noexcept {
    lock_.lock();
    counts c{max_threads_, threads_, idle_, queued_, peak_threads_, keep_alive_ns_, calls_};
    lock_.unlock();
    return c;
  }

  // Queues `j` and makes sure a helper will run it: wakes an idle one, or
  // starts one while fewer run than the limit.
  void submit(blocking_job* j) noexcept {
    lock_.lock();
    j->next = nullptr;
    *tail_ = j;
    tail_ = &j->next;
    ++queued_;
    ++calls_;
    bool wake = idle_ > 0;
    if (wake) wake_word_.fetch_add(1, std::memory_order_relaxed);  // under lock_: see the rules
    bool start = queued_ > idle_ && threads_ < max_threads_;
    if (start && ++threads_ > peak_threads_) peak_threads_ = threads_;
    lock_.unlock();
    if (wake) futex_wake(&wake_word_);
    if (start) start_helper();
  }

 private:
  blocking_pool() = default;

  void start_helper() noexcept {
    int err = start_detached_thread(&helper_main, this);
    if (err == 0) return;
    lock_.lock();
    unsigned left = --threads_;
    lock_.unlock();
    // With a helper alive the call waits for it; with none it never runs.
    if (left == 0) {
      message m;
      fatal(m.text("jiffy::blocking(): cannot start a helper thread (pthread_create error ")
                .number(static_cast<unsigned>(err))
                .text(") and none is running"));
    }
  }

  static void* helper_main(void* arg) noexcept {
    static_cast<blocking_pool*>(arg)->serve();
    return nullptr;
  }

  blocking_job* pop_locked() noexcept {
    blocking_job* j = head_;
    if (!j) return nullptr;
    head_ = j->next;
    if (!head_) tail_ = &head_;
    --queued_;
    return j;
  }

  // A helper's life: run queued calls; idle, wait for one; exit once idle
  // for keep_alive, or at once when idle above max_threads.
  void serve() noexcept {
    lock_.lock();
    std::int64_t idle_since = now_ns();
    for (;;) {
      if (blocking_job* j = pop_locked()) {
        lock_.unlock();
        j->run(j);  // ends with finish_blocking_job: j may be gone after it
        idle_since = now_ns();
        lock_.lock();
        continue;
      }
      if (now_ns() - idle_since >= keep_alive_ns_ || threads_ > max_threads_) break;
      ++idle_;
      std::uint32_t seen = wake_word_.load(std::memory_order_relaxed);
      std::int64_t until = idle_since + keep_alive_ns_;  // read under lock_: set_limits changes it
      lock_.unlock();
      futex_wait(&wake_word_, seen, until);
      lock_.lock();
      --idle_;
    }
    --threads_;
    lock_.unlock();
  }

  raw_spinlock lock_;
  blocking_job* head_ = nullptr;
  blocking_job** tail_ = &head_;
  unsigned queued_ = 0;
  unsigned threads_ = 0;
  unsigned idle_ = 0;
  unsigned peak_threads_ = 0;
  std::uint64_t calls_ = 0;
  unsigned max_threads_ = default_max_threads;
  std::int64_t keep_alive_ns_ = default_keep_alive_ns;
  std::atomic<std::uint32_t> wake_word_{0};
};

// The calling fiber's side: submit `j`, park until a helper has run it.
inline void run_blocking_job(blocking_job& j) noexcept {
  debug_might_sleep("jiffy::blocking()");
  j.parked.lock();
  blocking_pool::get().submit(&j);
  (void)block_waiter(j.wt, &j.parked, no_deadline_ns, "blocking", &j);
}

// The helper's side, after the call: make the fiber runnable again.
inline void finish_blocking_job(blocking_job* j) noexcept {
  j->parked.lock();                     // free once the fiber is off its stack
  bool claimed = claim_waiter(&j->wt);  // nothing else races for it: no deadline, no other notifier
  j->parked.unlock();
  if (claimed) deliver(&j->wt);  // the last touch of *j
}

}  // namespace jiffy::detail
