// jiffy/lock_guard.hpp — scoped guards that Clang's thread-safety analysis
// understands: jiffy::lock_guard<L> and jiffy::shared_lock_guard<L>.
//
// Why not std::lock_guard: libstdc++'s guards carry no annotations, so to
// -Wthread-safety a std::lock_guard takes no lock, and data marked
// JIFFY_GUARDED_BY(mu) touched in its scope is reported (thread_annotations.hpp
// explains the annotations). These are the same guards, annotated as scoped
// capabilities: the analysis knows the lock is held from the constructor to
// the end of the scope. They work with any lock (any L with lock()/unlock(),
// or lock_shared()/unlock_shared()); the analysis follows those whose type is
// a capability, which every jiffy lock is.
//
//   jiffy::mutex mu;
//   int hits JIFFY_GUARDED_BY(mu) = 0;
//   { jiffy::lock_guard g(mu); ++hits; }                  // checked: mu is held
//
//   jiffy::rw_spinlock rw;
//   table t JIFFY_GUARDED_BY(rw);
//   { jiffy::shared_lock_guard g(rw); use(t.find(k)); }   // reads under a shared hold
//
// Rules:
//  * Not movable and not copyable, like std::lock_guard: the lock is released
//    in the scope that took it. For a lock that must be released early or
//    handed to a condition_variable, use std::unique_lock (unchecked) or
//    lock()/unlock() in one function (checked).
//  * jiffy::lock_guard g(mu, std::adopt_lock) takes over a lock the caller
//    already holds (the analysis checks that it is held).
//  * The constructors are [[nodiscard]]: `jiffy::lock_guard<M>{mu};` would
//    lock and unlock at once, guarding nothing.
#pragma once

#include <jiffy/thread_annotations.hpp>

#include <mutex>

namespace jiffy {

template <class Lock>
class JIFFY_SCOPED_CAPABILITY lock_guard {
 public:
  [[nodiscard]] explicit lock_guard(Lock& lock) JIFFY_ACQUIRE(lock) : lock_(lock) { lock_.lock(); }
  [[nodiscard]] lock_guard(Lock& lock, std::adopt_lock_t) JIFFY_REQUIRES(lock) : lock_(lock) {}
  ~lock_guard() JIFFY_RELEASE() { lock_.unlock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

 private:
  Lock& lock_;
};

template <class Lock>
class JIFFY_SCOPED_CAPABILITY shared_lock_guard {
 public:
  [[nodiscard]] explicit shared_lock_guard(Lock& lock) JIFFY_ACQUIRE_SHARED(lock) : lock_(lock) { lock_.lock_shared(); }
  [[nodiscard]] shared_lock_guard(Lock& lock, std::adopt_lock_t) JIFFY_REQUIRES_SHARED(lock) : lock_(lock) {}
  // Generic: the guard releases what its constructor took, in the mode it
  // took it (Clang tracks that; release_capability would claim exclusive).
  ~shared_lock_guard() JIFFY_RELEASE_GENERIC() { lock_.unlock_shared(); }
  shared_lock_guard(const shared_lock_guard&) = delete;
  shared_lock_guard& operator=(const shared_lock_guard&) = delete;

 private:
  Lock& lock_;
};

}  // namespace jiffy
