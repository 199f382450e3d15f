// jiffy/sync.hpp — blocking synchronisation for fibers and threads alike.
//
// Rules:
//  * Each primitive works from fibers and from plain OS threads, mixed: a
//    waiting fiber parks only itself (its worker runs other fibers), a
//    waiting thread blocks its thread (on a futex).
//  * All are built on one mechanism (detail/waiter.hpp, wait.hpp, wake.hpp): a waiter joins a
//    list under the primitive's raw_spinlock and parks; the lock is released
//    only once the waiter is off its stack, so a notifier on another worker
//    can never run it half-parked.
//  * Blocking while preempt-disabled (or holding a jiffy spinlock) is a bug;
//    debug builds abort with "scheduling while atomic".
//  * Misuse that can be detected (unlocking an unlocked mutex, a wait_group
//    counter below zero) aborts with a message naming it.
//  * mutex is a capability for Clang's thread-safety analysis
//    (thread_annotations.hpp): data can be JIFFY_GUARDED_BY a mutex and
//    taken under jiffy::lock_guard (lock_guard.hpp, included here).
//    condition_variable's waits on a jiffy::mutex itself require it held.
//  * [[nodiscard]]: try_lock(), and the waits that report whether what they
//    waited for happened (a predicate wait's bool).
#pragma once

#include <jiffy/detail/priority_inheritance.hpp>
#include <jiffy/detail/time.hpp>
#include <jiffy/detail/wait.hpp>
#include <jiffy/detail/wake.hpp>
#include <jiffy/lock_guard.hpp>
#include <jiffy/thread_annotations.hpp>

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
class JIFFY_CAPABILITY("mutex") mutex {
 public:
  mutex() noexcept = default;
  ~mutex() { wakers_.drain(); }
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() noexcept JIFFY_ACQUIRE() {
    detail::debug_might_sleep("mutex::lock()");
    if (!try_lock()) lock_slow();
  }

  [[nodiscard]] bool try_lock() noexcept JIFFY_TRY_ACQUIRE(true) {
    std::uint32_t expected = unlocked;
    // acquire: the critical section sees the previous owner's writes.
    if (!state_.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed))
      return false;
    set_owner();
    return true;
  }

  void unlock() noexcept JIFFY_RELEASE() {
    // The holder, for priority inheritance (detail/priority_inheritance.hpp):
    // read and cleared by its owner; waiters read it under lock_.
    detail::fiber_control* self = owner_.load(std::memory_order_relaxed);
    owner_.store(nullptr, std::memory_order_relaxed);
    // Unboosted before any waiter is woken: the waker's choice of whom to
    // preempt must see our own rank.
    (void)detail::pi_unboost(self);
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
    detail::preempt_check_resched_after_wake();  // the woken fiber may outrank us
  }

 private:
  enum : std::uint32_t { unlocked = 0, locked = 1, contended = 2 };

  // Returns holding the mutex. (The analysis does not look inside a lock's
  // own acquire and release functions: their bodies are the lock.)
  void lock_slow() noexcept JIFFY_ACQUIRE() {
    // A short spin first: critical sections under a mutex are often brief,
    // and parking costs two context switches.
    for (int i = 0; i < 64; ++i) {
      if (state_.load(std::memory_order_relaxed) == unlocked && try_lock()) return;
      detail::cpu_relax();
    }
    // Priority inheritance: while this fiber waits in here, a chain walk
    // may follow it to this mutex.
    detail::fiber_control* me = detail::this_cpu()->current;
    detail::pi_set_blocked_on(me, this);
    for (;;) {
      // Marking the lock contended makes the eventual unlock() wake someone.
      if (state_.exchange(contended, std::memory_order_acquire) == unlocked) {
        set_owner();
        detail::pi_set_blocked_on(me, nullptr);
        return;
      }
      detail::waiter wt;
      lock_.lock();
      // Re-check under the list lock: an unlock between our exchange and
      // here would otherwise go unseen (it takes lock_ to wake anyone).
      if (state_.load(std::memory_order_relaxed) != contended) {
        lock_.unlock();
        continue;
      }
      waiters_.push_back(&wt);
      if (me) boost_owner_chain(me->rank());
      detail::block_waiter(wt, &lock_, detail::no_deadline_ns, "mutex", this);
    }
  }
  // release, with the acquire loads in boost_owner_chain: a waiter that
  // finds the holder here reads its fiber_control (rank, locks), which may
  // have been built on another thread a moment ago; the holder saw it built
  // (it runs on it), and this pair passes that on to the waiter.
  void set_owner() noexcept { owner_.store(detail::this_cpu()->current, std::memory_order_release); }

  // Priority inheritance: raises this mutex's holder to `rank`, and the
  // holders of the mutexes it waits for in turn. Called with lock_ held.
  // Why each fiber and mutex touched is alive: a mutex's holder cannot
  // finish unlocking a contended mutex while its lock_ is held (unlock takes
  // it to wake a waiter); a fiber cannot leave the lock() of the mutex in
  // its pi_blocked_on while its pi_lock is held. Further mutexes' locks are
  // only tried (a chain that loops back is a deadlock in the program; the
  // walk stops rather than spin).
  void boost_owner_chain(unsigned rank) noexcept {
    detail::fiber_control* holder = owner_.load(std::memory_order_acquire);  // see set_owner
    mutex* held = nullptr;                                                   // a further mutex whose lock_ we hold
    for (int depth = 0; depth < detail::pi_chain_limit && detail::pi_boost(holder, rank); ++depth) {
      holder->pi_lock.lock();
      auto* next = static_cast<mutex*>(holder->pi_blocked_on);
      bool locked_next = next && next != this && next != held && next->lock_.try_lock();
      holder->pi_lock.unlock();
      if (held) held->lock_.unlock();
      held = locked_next ? next : nullptr;
      if (!held) return;
      holder = held->owner_.load(std::memory_order_acquire);
    }
    if (held) held->lock_.unlock();
  }

  void wake_one() noexcept {
    lock_.lock();
    detail::wake_one_and_unlock(waiters_, lock_);
  }

  std::atomic<std::uint32_t> state_{unlocked};
  std::atomic<detail::fiber_control*> owner_{nullptr};  // the holding fiber (null: a thread, or unlocked)
  detail::raw_spinlock lock_;
  detail::wait_list<detail::waiter> waiters_;
  detail::inflight_wakers wakers_;
};

// Waits for a condition under a lock. wait() accepts any BasicLockable
// (std::unique_lock<jiffy::mutex> is the usual one), like
// std::condition_variable_any. Spurious wake-ups are possible, as with every
// condition variable: use the predicate overloads.
//
// Thread-safety analysis: the waits taking a jiffy::mutex itself require it
// held (take it with jiffy::lock_guard, then cv.wait(mu, pred)); the generic
// ones cannot say so (a std::unique_lock is no capability) and are not
// checked. A predicate that reads guarded data is a lambda of its own to the
// analysis: annotate it, [&]() JIFFY_REQUIRES(mu) { return ready; }.
// The cv_status results are not [[nodiscard]]: with spurious wake-ups the
// caller re-checks its condition anyway, and often ignores them rightly.
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
    detail::preempt_check_resched_after_wake();
  }

  void notify_all() noexcept {
    wakers_.enter();
    lock_.lock();
    detail::wake_all_and_unlock(waiters_, lock_);
    wakers_.exit();
    detail::preempt_check_resched_after_wake();
  }

  template <class Lock>
  void wait(Lock& lock) {
    wait_ns(lock, detail::no_deadline_ns);
  }

  template <class Lock, class Predicate>
  void wait(Lock& lock, Predicate pred) {
    while (!pred()) wait(lock);
  }

  template <class Lock, class Clock, class Duration>
  std::cv_status wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t) {
    return wait_ns(lock, detail::to_monotonic_ns(t));
  }

  // Returns pred(): false means it timed out with the condition still false.
  template <class Lock, class Clock, class Duration, class Predicate>
  [[nodiscard]] bool wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& t, Predicate pred) {
    return wait_pred(lock, detail::to_monotonic_ns(t), pred);
  }

  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d) {
    return wait_ns(lock, detail::deadline_after(d));
  }

  // Returns pred(): false means it timed out with the condition still false.
  template <class Lock, class Rep, class Period, class Predicate>
  [[nodiscard]] bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& d, Predicate pred) {
    return wait_pred(lock, detail::deadline_after(d), pred);
  }

  // The same waits on a jiffy::mutex the caller holds (checked by the
  // analysis). Chosen over the generic ones for a jiffy::mutex argument. The
  // predicate waits are not analysed inside: pred() runs with m held, but
  // the analysis cannot match m to what a predicate's annotation names.
  void wait(mutex& m) JIFFY_REQUIRES(m) { wait_ns(m, detail::no_deadline_ns); }
  template <class Predicate>
  void wait(mutex& m, Predicate pred) JIFFY_REQUIRES(m) JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    while (!pred()) wait(m);
  }
  template <class Clock, class Duration>
  std::cv_status wait_until(mutex& m, const std::chrono::time_point<Clock, Duration>& t) JIFFY_REQUIRES(m) {
    return wait_ns(m, detail::to_monotonic_ns(t));
  }
  template <class Clock, class Duration, class Predicate>
  [[nodiscard]] bool wait_until(mutex& m, const std::chrono::time_point<Clock, Duration>& t, Predicate pred)
      JIFFY_REQUIRES(m) {
    return wait_pred(m, detail::to_monotonic_ns(t), pred);
  }
  template <class Rep, class Period>
  std::cv_status wait_for(mutex& m, const std::chrono::duration<Rep, Period>& d) JIFFY_REQUIRES(m) {
    return wait_ns(m, detail::deadline_after(d));
  }
  template <class Rep, class Period, class Predicate>
  [[nodiscard]] bool wait_for(mutex& m, const std::chrono::duration<Rep, Period>& d, Predicate pred) JIFFY_REQUIRES(m) {
    return wait_pred(m, detail::deadline_after(d), pred);
  }

 private:
  // Not analysed: pred() needs the caller's lock, which the analysis cannot
  // relate to a generic Lock.
  template <class Lock, class Predicate>
  bool wait_pred(Lock& lock, std::int64_t deadline, Predicate& pred) JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    while (!pred())
      if (wait_ns(lock, deadline) == std::cv_status::timeout) return pred();
    return true;
  }

  // Releases the caller's lock and takes it again, whatever its type: not
  // analysed (for a jiffy::mutex the public overloads state the contract).
  template <class Lock>
  std::cv_status wait_ns(Lock& lock, std::int64_t deadline) JIFFY_NO_THREAD_SAFETY_ANALYSIS {
    detail::debug_might_sleep("condition_variable::wait()");
    detail::waiter wt;
    lock_.lock();
    waiters_.push_back(&wt);
    // Enqueued before the user's lock is released: a notify that follows
    // the unlock finds us.
    lock.unlock();
    std::uint32_t how = detail::block_waiter(wt, &lock_, deadline, "condition_variable", this);
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
          detail::preempt_check_resched_after_wake();
        }
        return;
      }
      if (now == 0) wakers_.exit();
    }
  }

  void done() noexcept { add(-1); }

  [[nodiscard]] std::int64_t count() const noexcept { return count_.load(std::memory_order_acquire); }

  void wait() noexcept { (void)wait_ns(detail::no_deadline_ns); }

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
    if (detail::block_waiter(wt, &lock_, deadline, "wait_group", this) == detail::wait_notified) return true;
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
