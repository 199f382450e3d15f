// jiffy/preempt.hpp — preempt counts and migration control, in the kernel's
// vocabulary (include/linux/preempt.h).
//
// Rules:
//  * preempt_count() > 0 means "do not switch me out": no preemption, no
//    migration. The count is nestable and lives with the fiber: it is saved
//    when the fiber is switched out and restored when it resumes, on whatever
//    worker. On a plain OS thread each thread has its own count.
//  * While the count is above 0 the fiber stays on its worker, so
//    this_fiber::worker_index() and per-worker data are stable.
//  * Blocking or yielding with the count above 0 is a bug ("scheduling while
//    atomic"): debug builds abort with that message. So does preempt_enable()
//    below zero.
//  * preempt_enable() that brings the count to 0 while need_resched() is set
//    switches right there: that is where a deferred preemption lands.
//  * migrate_disable() is weaker: the fiber may still be switched out, but it
//    always resumes on the same worker (for code that keeps thread_local
//    state across a switch).
//  * All of these are a few instructions: the count is reached through one
//    thread-pointer-relative address (detail/cpu_local.hpp), and the signal
//    fences are compiler barriers only, because the preemption signal runs on
//    the same thread as the code it interrupts.
//  * Locks jiffy does not own count too: while a fiber holds a std::mutex,
//    any pthread mutex or rwlock, a static's initialisation guard or is
//    inside std::call_once, its count is raised as if it held a
//    jiffy::spinlock (the kernel's rule: a lock holder is not preempted).
//    That needs the program linked with jiffy's wrappers, which CMake's
//    jiffy::jiffy target does; foreign_locks_hold_off_preemption() says
//    whether it was (detail/platform/lock_interposition.hpp).
#pragma once

#include <jiffy/detail/platform/lock_interposition.hpp>
#include <jiffy/detail/preempt_count.hpp>

#include <atomic>

namespace jiffy {

inline void preempt_disable() noexcept { detail::raise_user_preempt(detail::this_cpu()); }

inline void preempt_enable_no_resched() noexcept {
  detail::cpu_local* c = detail::this_cpu();
  std::atomic_signal_fence(std::memory_order_seq_cst);  // ...and before the decrement
  if constexpr (detail::debug_checks)
    if (detail::user_preempt_depth(c->preempt_count) == 0) detail::preempt_underflow("preempt_enable()");
  --c->preempt_count;
}

inline void preempt_enable() noexcept {
  detail::cpu_local* c = detail::this_cpu();
  if constexpr (detail::debug_checks)
    if (detail::user_preempt_depth(c->preempt_count) == 0) detail::preempt_underflow("preempt_enable()");
  if (detail::drop_user_preempt(c)) detail::preempt_schedule();
}

inline void preempt_check_resched() noexcept {
  detail::cpu_local* c = detail::this_cpu();
  if (!detail::in_atomic(c) && c->need_resched.load(std::memory_order_relaxed)) detail::preempt_schedule();
}

[[nodiscard]] inline unsigned preempt_count() noexcept { return detail::this_cpu()->preempt_count; }

[[nodiscard]] inline bool preemptible() noexcept { return !detail::in_atomic(detail::this_cpu()); }

// Whether the running fiber has been asked to make way: its next
// preemption point with the count at 0 switches (if anything is waiting to
// run). A request made for the fiber that ran before (by the monitor or a
// waker), landing just after the switch, does not count.
[[nodiscard]] inline bool need_resched() noexcept {
  detail::cpu_local* c = detail::this_cpu();
  return c->need_resched.load(std::memory_order_relaxed) != 0 && detail::resched_is_current(c);
}

// An explicit preemption point for long loops: switches if the running fiber
// has used up its quantum and someone else is waiting. A no-op outside
// fibers and while preempt-disabled.
inline void cond_resched() noexcept { preempt_check_resched(); }

class preempt_guard {
 public:
  preempt_guard() noexcept { preempt_disable(); }
  ~preempt_guard() { preempt_enable(); }
  preempt_guard(const preempt_guard&) = delete;
  preempt_guard& operator=(const preempt_guard&) = delete;
};

inline void migrate_disable() noexcept {
  detail::cpu_local* c = detail::this_cpu();
  ++c->migrate_disable;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

inline void migrate_enable() noexcept {
  detail::cpu_local* c = detail::this_cpu();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if constexpr (detail::debug_checks)
    if (c->migrate_disable == 0) detail::preempt_underflow("migrate_enable()");
  --c->migrate_disable;
}

// Whether this program was linked with jiffy's lock wrappers, so that
// holders of std::mutex, pthread locks, static guards and std::call_once are
// never preempted (see the rules above). False means a fiber preempted while
// holding such a lock can hang its worker under `full`.
[[nodiscard]] inline bool foreign_locks_hold_off_preemption() noexcept { return detail::foreign_locks_wrapped(); }

[[nodiscard]] inline unsigned migrate_disable_count() noexcept { return detail::this_cpu()->migrate_disable; }

class migrate_guard {
 public:
  migrate_guard() noexcept { migrate_disable(); }
  ~migrate_guard() { migrate_enable(); }
  migrate_guard(const migrate_guard&) = delete;
  migrate_guard& operator=(const migrate_guard&) = delete;
};

}  // namespace jiffy
