// jiffy/detail/platform/clock_interposition.hpp — clock reads that the
// preemption signal can interrupt.
//
// The problem.  A loop that reads the clock spends most of its time in the
// vDSO (80% for a loop around steady_clock::now() on x86-64, by perf), and
// steady_clock::now() reaches it through libstdc++ and libc, shared objects
// where preemption never lands (safe_points.hpp). A preemption signal there
// is deferred and retried, and a hog that reads the clock in its loop was
// late to give way by milliseconds.
//
// The rule.  Code in the vDSO is as preemptible as its caller: it takes no
// lock and keeps no state across the call, so interrupting it is
// interrupting the call site (safe_points.hpp: preemptible_at, with the
// caller found by platform/vdso.hpp). A vDSO call made from a shared object
// (which may hold a lock of its own: a sanitizer's allocator reads the clock
// under its lock) is no more preemptible than that shared object.
//
// The mechanism.  The linker's --wrap, as for foreign locks
// (lock_interposition.hpp; the list is cmake/foreign_locks.cmake): the
// program's own calls to clock_gettime and to std::chrono's steady_clock and
// system_clock now() go to the wrappers here, in the program's code, which
// call the vDSO's clock_gettime directly. No vDSO, or an error from it
// (an unsupported clock): libc's clock_gettime, which reports the error.
// The wrappers are weak, one copy per translation unit; the __real_
// reference is weak too, so a program linked without the flags needs none.
#pragma once

#include <jiffy/detail/platform/vdso.hpp>

#include <ctime>

extern "C" int __real_clock_gettime(clockid_t, timespec*) __attribute__((weak));

namespace jiffy::detail {

inline int read_clock(clockid_t clock, timespec* ts) noexcept {
  if (vdso_clock_gettime_fn f = vdso::get().clock_gettime())
    if (f(clock, ts) == 0) return 0;
  return __real_clock_gettime(clock, ts);
}

inline long long clock_now_ns(clockid_t clock) noexcept {
  timespec ts{};
  (void)read_clock(clock, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace jiffy::detail

#define JIFFY_CLOCK_WRAPPER_ extern "C" __attribute__((weak, used))

JIFFY_CLOCK_WRAPPER_ int __wrap_clock_gettime(clockid_t clock, timespec* ts) {
  return jiffy::detail::read_clock(clock, ts);
}
// std::chrono::_V2::steady_clock::now() and system_clock::now(). Their
// time_point (one 64-bit count of nanoseconds, trivially copyable) is
// returned in the same register as a long long on x86-64 and AArch64, so
// the wrappers are declared with that type (a C-linkage function cannot
// return the C++ class).
JIFFY_CLOCK_WRAPPER_ long long __wrap__ZNSt6chrono3_V212steady_clock3nowEv() {
  return jiffy::detail::clock_now_ns(CLOCK_MONOTONIC);
}
JIFFY_CLOCK_WRAPPER_ long long __wrap__ZNSt6chrono3_V212system_clock3nowEv() {
  return jiffy::detail::clock_now_ns(CLOCK_REALTIME);
}

#undef JIFFY_CLOCK_WRAPPER_
