// jiffy/detail/platform/lock_interposition.hpp — locks jiffy does not own
// hold preemption off while held, as jiffy's own spinlocks do.
//
// The problem.  A fiber preempted by the signal resumes only on the worker
// that preempted it (thread_local addresses may sit in its registers: see
// detail/preemption.hpp). If it held a std::mutex, the next fiber on that
// worker that wants the mutex blocks the worker's thread in the kernel, and
// the holder can never run again: the worker hangs. The same holds for every
// lock whose waiters block their thread — pthread mutexes and rwlocks (which
// std::mutex, recursive_mutex, timed_mutex and shared_mutex are), a
// function-local static's guard, pthread_once and std::call_once. Worse,
// glibc records the owning *thread* of a recursive mutex or a write-held
// rwlock: a second fiber on the same worker would be let into a recursive
// mutex its preempted sibling holds, or fail with EDEADLK on the rwlock.
//
// The rule (the kernel's: a context holding a lock is not preempted).  While
// a fiber holds one of these locks, its preempt count is raised, exactly as
// with jiffy::spinlock: the signal defers, and the preemption happens at the
// unlock. Nobody ever waits for a holder that is switched out, and no two
// fibers share a thread while one of them owns a lock by thread identity.
// Holding such a lock is therefore atomic context: parking a fiber while
// holding one (jiffy::mutex, sleep, I/O, join) is the kernel's "scheduling
// while atomic" bug, reported by debug builds. Blocking the *thread* on a
// std::condition_variable while holding one is allowed (the thread waits in
// the kernel; the count is unchanged across the wait, as the mutex is).
//
// The mechanism.  The linker's --wrap: with `-Wl,--wrap=pthread_mutex_lock`
// (and the rest: the list is cmake/foreign_locks.cmake), every call the program's
// own code makes to pthread_mutex_lock goes to __wrap_pthread_mutex_lock,
// defined here, which raises the count and calls __real_pthread_mutex_lock:
// glibc's function, or a sanitizer's interceptor of it (ASan and TSan
// intercept the same functions; --wrap leaves their definitions alone, so
// TSan still sees every lock). std::mutex's members are inline, so they call
// through the program's code. CMake's jiffy::jiffy target adds the flags
// (option JIFFY_WRAP_FOREIGN_LOCKS, on by default); other build systems add
// them from docs/design.md. Without them nothing is wrapped, everything
// builds, and foreign_locks_hold_off_preemption() says false.
//
// What is covered, and what is not.
//  * Calls made by code linked into the program with the flags: the
//    executable (or the shared library being linked). Locks taken inside
//    other shared libraries (libstdc++'s locale mutex, a logger in a .so) are
//    not wrapped, and need not be: preemption never lands in a shared
//    library's code (safe_points.hpp), and those libraries release such
//    locks before returning.
//  * __cxa_guard_acquire returns 1 to the thread that must run a static's
//    constructor: the count stays raised until __cxa_guard_release or
//    __cxa_guard_abort.
//  * std::call_once stores its callable in libstdc++'s thread-local
//    __once_callable *before* it calls pthread_once: a second fiber on the
//    same thread running a call_once in between would overwrite it. The
//    handler therefore also defers while that thread-local is set
//    (in_std_call_once()); pthread_once itself is wrapped.
//  * A failed lock (trylock's EBUSY, a timeout, EDEADLK, EAGAIN) drops the
//    count at once; an unlock that fails (not the owner) leaves it alone.
//    EOWNERDEAD means the lock is held: the count stays raised.
//  * The wrappers are weak definitions in every translation unit that
//    includes jiffy, merged by the linker; the __real_ references are weak,
//    so a program linked without the flags needs none of them.
#pragma once

#include <jiffy/detail/config.hpp>
#include <jiffy/detail/preempt_count.hpp>

#include <cerrno>
#include <ctime>
#include <mutex>
#include <pthread.h>

// The real functions: defined only when the program is linked with --wrap
// (null otherwise). Declared weak so that a link without the flags works.
extern "C" {
int __real_pthread_mutex_lock(pthread_mutex_t*) __attribute__((weak));
int __real_pthread_mutex_trylock(pthread_mutex_t*) __attribute__((weak));
int __real_pthread_mutex_timedlock(pthread_mutex_t*, const timespec*) __attribute__((weak));
int __real_pthread_mutex_clocklock(pthread_mutex_t*, clockid_t, const timespec*) __attribute__((weak));
int __real_pthread_mutex_unlock(pthread_mutex_t*) __attribute__((weak));
int __real_pthread_rwlock_rdlock(pthread_rwlock_t*) __attribute__((weak));
int __real_pthread_rwlock_tryrdlock(pthread_rwlock_t*) __attribute__((weak));
int __real_pthread_rwlock_timedrdlock(pthread_rwlock_t*, const timespec*) __attribute__((weak));
int __real_pthread_rwlock_clockrdlock(pthread_rwlock_t*, clockid_t, const timespec*) __attribute__((weak));
int __real_pthread_rwlock_wrlock(pthread_rwlock_t*) __attribute__((weak));
int __real_pthread_rwlock_trywrlock(pthread_rwlock_t*) __attribute__((weak));
int __real_pthread_rwlock_timedwrlock(pthread_rwlock_t*, const timespec*) __attribute__((weak));
int __real_pthread_rwlock_clockwrlock(pthread_rwlock_t*, clockid_t, const timespec*) __attribute__((weak));
int __real_pthread_rwlock_unlock(pthread_rwlock_t*) __attribute__((weak));
int __real_pthread_once(pthread_once_t*, void (*)()) __attribute__((weak));
int __real___cxa_guard_acquire(long long*) __attribute__((weak));
void __real___cxa_guard_release(long long*) __attribute__((weak));
void __real___cxa_guard_abort(long long*) __attribute__((weak));
}

namespace jiffy::detail {

// Whether this program was linked with the flags.
inline bool foreign_locks_wrapped() noexcept { return &__real_pthread_mutex_lock != nullptr; }

// Entering a foreign lock: the count goes up before the attempt, so that a
// holder is never preemptible for even an instruction (a waiter blocked in
// the kernel with the count raised is never signalled anyway).
inline void foreign_lock_enter() noexcept { raise_user_preempt(this_cpu()); }
// A failed attempt: nothing is held; a preemption deferred meanwhile waits
// for the next preemption point (the caller may be about to retry). A drop
// with no raise to match (the lock was taken by code linked without the
// flags, say in a shared library) leaves the count alone, here and below.
inline void foreign_lock_leave_no_resched() noexcept {
  cpu_local* c = this_cpu();
  if (user_preempt_depth(c->preempt_count) != 0) (void)drop_user_preempt(c);
}
// Leaving a lock after its release: a deferred preemption happens here.
inline void foreign_lock_leave() noexcept {
  cpu_local* c = this_cpu();
  if (user_preempt_depth(c->preempt_count) != 0 && drop_user_preempt(c)) preempt_schedule();
}

// The result of a lock attempt: held on 0, and on EOWNERDEAD (a robust
// mutex whose owner died: the caller holds it and must make it consistent).
inline int foreign_lock_result(int rc) noexcept {
  if (rc != 0 && rc != EOWNERDEAD) foreign_lock_leave_no_resched();
  return rc;
}

// ThreadSanitizer (LLVM 14) intercepts the timed lock functions but not
// their clock_ variants, which std::timed_mutex, shared_timed_mutex and
// their try_lock_for/until use: a lock taken through one is invisible to it,
// and the unlock is then reported as "unlock of an unlocked mutex". Under
// TSan the wrappers take such a lock through the intercepted timed variant
// instead, with the deadline moved to CLOCK_REALTIME (a clock step during
// the wait shifts it; only in TSan builds).
inline timespec realtime_deadline(clockid_t clock, const timespec* t) noexcept {
  if (clock == CLOCK_REALTIME) return *t;
  timespec now_c{}, now_r{};
  clock_gettime(clock, &now_c);
  clock_gettime(CLOCK_REALTIME, &now_r);
  long long ns = (static_cast<long long>(t->tv_sec) - now_c.tv_sec) * 1000000000LL + (t->tv_nsec - now_c.tv_nsec) +
                 static_cast<long long>(now_r.tv_sec) * 1000000000LL + now_r.tv_nsec;
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000LL), static_cast<long>(ns % 1000000000LL)};
}

// Whether std::call_once is between storing its callable in libstdc++'s
// thread-local and clearing it: no other fiber may run on this thread then.
inline bool in_std_call_once() noexcept {
#if defined(__GLIBCXX__) && defined(_GLIBCXX_HAVE_TLS)
  return std::__once_callable != nullptr;
#else
  return false;
#endif
}

}  // namespace jiffy::detail

// The wrappers. Weak: one copy per translation unit, merged by the linker.
// `used`: emitted even though nothing in the translation unit names them
// (the linker routes calls to them by name).
#define JIFFY_WRAPPER_ extern "C" __attribute__((weak, used))

JIFFY_WRAPPER_ int __wrap_pthread_mutex_lock(pthread_mutex_t* m) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_mutex_lock(m));
}
JIFFY_WRAPPER_ int __wrap_pthread_mutex_trylock(pthread_mutex_t* m) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_mutex_trylock(m));
}
JIFFY_WRAPPER_ int __wrap_pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* t) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_mutex_timedlock(m, t));
}
JIFFY_WRAPPER_ int __wrap_pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t c, const timespec* t) {
  jiffy::detail::foreign_lock_enter();
#if JIFFY_TSAN
  timespec rt = jiffy::detail::realtime_deadline(c, t);
  return jiffy::detail::foreign_lock_result(__real_pthread_mutex_timedlock(m, &rt));
#else
  return jiffy::detail::foreign_lock_result(__real_pthread_mutex_clocklock(m, c, t));
#endif
}
JIFFY_WRAPPER_ int __wrap_pthread_mutex_unlock(pthread_mutex_t* m) {
  int rc = __real_pthread_mutex_unlock(m);
  if (rc == 0) jiffy::detail::foreign_lock_leave();
  return rc;
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_rdlock(l));
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_tryrdlock(pthread_rwlock_t* l) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_tryrdlock(l));
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* t) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_timedrdlock(l, t));
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t c, const timespec* t) {
  jiffy::detail::foreign_lock_enter();
#if JIFFY_TSAN
  timespec rt = jiffy::detail::realtime_deadline(c, t);
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_timedrdlock(l, &rt));
#else
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_clockrdlock(l, c, t));
#endif
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_wrlock(l));
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_trywrlock(pthread_rwlock_t* l) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_trywrlock(l));
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* t) {
  jiffy::detail::foreign_lock_enter();
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_timedwrlock(l, t));
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t c, const timespec* t) {
  jiffy::detail::foreign_lock_enter();
#if JIFFY_TSAN
  timespec rt = jiffy::detail::realtime_deadline(c, t);
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_timedwrlock(l, &rt));
#else
  return jiffy::detail::foreign_lock_result(__real_pthread_rwlock_clockwrlock(l, c, t));
#endif
}
JIFFY_WRAPPER_ int __wrap_pthread_rwlock_unlock(pthread_rwlock_t* l) {
  int rc = __real_pthread_rwlock_unlock(l);
  if (rc == 0) jiffy::detail::foreign_lock_leave();
  return rc;
}
// The initialiser runs with the count raised, and so does a wait for
// another thread's initialiser (blocked in the kernel, never signalled).
JIFFY_WRAPPER_ int __wrap_pthread_once(pthread_once_t* once, void (*init)()) {
  jiffy::detail::foreign_lock_enter();
  int rc = __real_pthread_once(once, init);
  jiffy::detail::foreign_lock_leave();
  return rc;
}
// 1: this thread runs the constructor, holding the guard until release or
// abort. 0: initialised already (or by another thread meanwhile).
JIFFY_WRAPPER_ int __wrap___cxa_guard_acquire(long long* guard) {
  jiffy::detail::foreign_lock_enter();
  int must_construct = __real___cxa_guard_acquire(guard);
  if (!must_construct) jiffy::detail::foreign_lock_leave_no_resched();
  return must_construct;
}
JIFFY_WRAPPER_ void __wrap___cxa_guard_release(long long* guard) {
  __real___cxa_guard_release(guard);
  jiffy::detail::foreign_lock_leave();
}
// Called while an exception leaves the constructor: no switch in the middle
// of unwinding; a deferred preemption waits for the next preemption point.
JIFFY_WRAPPER_ void __wrap___cxa_guard_abort(long long* guard) {
  __real___cxa_guard_abort(guard);
  jiffy::detail::foreign_lock_leave_no_resched();
}

#undef JIFFY_WRAPPER_
