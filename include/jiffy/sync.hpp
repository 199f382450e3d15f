// jiffy/sync.hpp — blocking synchronisation for fibers and threads alike.
//
// Rules:
//  * Each primitive works from fibers and from plain OS threads, mixed: a
//    waiting fiber parks only itself (its worker runs other fibers), a
//    waiting thread blocks its thread (on a futex).
//  * All are built on one mechanism (detail/scheduler.hpp): a waiter joins a
//    list under the primitive's raw_spinlock and parks; the lock is released
//    only once the waiter is off its stack, so a notifier on another worker
//    can never run it half-parked.
//  * Blocking while preempt-disabled (or holding a jiffy spinlock) is a bug;
//    debug builds abort with "scheduling while atomic".
//  * Misuse that can be detected (unlocking an unlocked mutex, a wait_group
//    counter below zero) aborts with a message naming it.
#pragma once

#include <jiffy/detail/scheduler.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace jiffy {

// A mutual-exclusion lock that parks waiting fibers instead of spinning.
// Meets the standard Lockable requirements (std::lock_guard, std::unique_lock,
// std::scoped_lock). Not recursive, not fair: a releasing owner wakes one
// waiter, which competes with newcomers (as std::mutex does on Linux).
class mutex {
 public:
  mutex() noexcept = default;
  ~mutex() { wakers_.drain(); }
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() noexcept {
    detail::debug_might_sleep("mutex::lock()");
    if (!try_lock()) lock_slow();
  }

  bool try_lock() noexcept {
    std::uint32_t expected = unlocked;
    // acquire: the critical section sees the previous owner's writes.
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() noexcept {
    std::uint32_t expected = locked;
    // release: publishes the critical section to the next owner.
    if (state_.compare_exchange_strong(expected, unlocked, std::memory_order_release, std::memory_order_relaxed))
      return;
    if constexpr (detail::debug_checks)
      if (expected == unlocked) detail::fatal("mutex::unlock() of a mutex that is not locked");
    // Contended. Once unlocked, the mutex may be taken, released and
    // destroyed by someone else while we still wake a waiter: the destructor
    // waits for us.
    wakers_.enter();
    state_.store(unlocked, std::memory_order_release);
    wake_one();
    wakers_.exit();
  }

 private:
  enum : std::uint32_t { unlocked = 0, locked = 1, contended = 2 };

  void lock_slow() noexcept {
    // A short spin first: critical sections under a mutex are often brief,
    // and parking costs two context switches.
    for (int i = 0; i < 64; ++i) {
      if (state_.load(std::memory_order_relaxed) == unlocked && try_lock()) return;
      detail::cpu_relax();
    }
    for (;;) {
      // Marking the lock contended makes the eventual unlock() wake someone.
      if (state_.exchange(contended, std::memory_order_acquire) == unlocked) return;
      detail::waiter wt;
      lock_.lock();
      // Re-check under the list lock: an unlock between our exchange and
      // here would otherwise go unseen (it takes lock_ to wake anyone).
      if (state_.load(std::memory_order_relaxed) != contended) {
        lock_.unlock();
        continue;
      }
      waiters_.push_back(&wt);
      detail::block_waiter(wt, &lock_, detail::no_deadline);
    }
  }

  void wake_one() noexcept {
    lock_.lock();
    detail::wake_one_and_unlock(waiters_, lock_);
  }

  std::atomic<std::uint32_t> state_{unlocked};
  detail::raw_spinlock lock_;
  detail::wait_list<detail::waiter> waiters_;
  detail::inflight_wakers wakers_;
};

// Waits for a condition under a lock. wait() accepts any BasicLockable
// (std::unique_lock<jiffy::mutex> is the usual one), like
// std::condition_variable_any. Spurious wake-ups are possible, as with every
// condition variable: use the predicate overloads.
class condition_variable {
 public:
  condition_variable() noexcept = default;
  ~condition_variable() { wakers_.drain(); }  // a woken waiter may destroy us while notify_all() finishes
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept {
    wakers_.enter();
    lock_.lock();
    detail::wake_one_and_unlock(waiters_, lock_);
    wakers_.exit();
  }

  void notify_all() noexcept {
    wakers_.enter();
    lock_.lock();
    detail::wake_all_and_unlock(waiters_, lock_);
    wakers_.exit();
  }

  template <class Lock>
  void wait(Lock& lock) {
    wait_ns(lock, detail::no_deadline);
  }

  template <class Lock, class Predicate>
  void wait(Lock& lock, Predicate pred) {
    while (!pred()) wait(lock);
  }

  template <class Lock, class Clock, class Duration>
  std::cv_status wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t) {
    return wait_ns(lock, detail::to_monotonic_ns(t));
  }


  template <class Lock, class Clock, class Duration, class Predicate>
  bool wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t, Predicate pred) {
    std::int64_t deadline = detail::to_monotonic_ns(t);
    while (!pred())
      if (wait_ns(lock, deadline) == std::cv_status::timeout) return pred();
    return true;
  }

  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d) {
    return wait_ns(lock, detail::deadline_after(d));
  }

  template <class Lock, class Rep, class Period, class Predicate>
  bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d, Predicate pred) {
    std::int64_t deadline = detail::deadline_after(d);
    while (!pred())
      if (wait_ns(lock, deadline) == std::cv_status::timeout) return pred();
    return true;
  }

 private:
  template <class Lock>
  std::cv_status wait_ns(Lock& lock, std::int64_t deadline) {
    detail::debug_might_sleep("condition_variable::wait()");
    detail::waiter wt;
    lock_.lock();
    waiters_.push_back(&wt);
    // Enqueued before the user's lock is released: a notify that follows
    // the unlock finds us.
    lock.unlock();
    std::uint32_t how = detail::block_waiter(wt, &lock_, deadline);
    if (how == detail::wait_timed_out) {
      lock_.lock();
      if (wt.linked) waiters_.unlink(&wt);
      lock_.unlock();
    }
    lock.lock();
    return how == detail::wait_timed_out ? std::cv_status::timeout : std::cv_status::no_timeout;
  }

  detail::raw_spinlock lock_;
  detail::wait_list<detail::waiter> waiters_;
  detail::inflight_wakers wakers_;
};

// A counter of outstanding work (Go's sync.WaitGroup, a job system's
// counter): add(n) before starting work, done() when each piece finishes,
// wait() until the count is back to zero. Reusable once it reaches zero.
class wait_group {
 public:
  explicit wait_group(std::int64_t initial = 0) noexcept : count_(initial) {
    if (initial < 0) detail::fatal("wait_group created with a negative count");
  }
  ~wait_group() { wakers_.drain(); }  // the last done() may still be waking waiters
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  void add(std::int64_t n = 1) noexcept {
    std::int64_t old = count_.load(std::memory_order_relaxed);
    for (;;) {
      std::int64_t now = old + n;
      if (now < 0) detail::fatal("wait_group counter went negative (more done() than add())");
      // Reaching zero lets waiters return and destroy us while we still wake
      // the rest: register as a waker before the count says so.
      if (now == 0) wakers_.enter();
      // acq_rel: done() publishes the finished work; a waiter that sees zero
      // acquires it.
      if (count_.compare_exchange_weak(old, now, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        if (now == 0) {
          lock_.lock();
          detail::wake_all_and_unlock(waiters_, lock_);
          wakers_.exit();
        }
        return;
      }
      if (now == 0) wakers_.exit();
    }
  }

  void done() noexcept { add(-1); }

  std::int64_t count() const noexcept { return count_.load(std::memory_order_acquire); }

  void wait() noexcept { (void)wait_ns(detail::no_deadline); }

  // Returns true if the count reached zero, false on time-out.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) noexcept {
    return wait_ns(detail::deadline_after(d));
  }

 private:
  bool wait_ns(std::int64_t deadline) noexcept {
    detail::debug_might_sleep("wait_group::wait()");
    if (count_.load(std::memory_order_acquire) == 0) return true;
    detail::waiter wt;
    lock_.lock();
    if (count_.load(std::memory_order_acquire) == 0) {
      lock_.unlock();
      return true;
    }
    waiters_.push_back(&wt);
    if (detail::block_waiter(wt, &lock_, deadline) == detail::wait_notified) return true;
    lock_.lock();
    if (wt.linked) waiters_.unlink(&wt);
    lock_.unlock();
    return count_.load(std::memory_order_acquire) == 0;
  }

  std::atomic<std::int64_t> count_;
  detail::raw_spinlock lock_;
  detail::wait_list<detail::waiter> waiters_;
  detail::inflight_wakers wakers_;
};

}  // namespace jiffy
