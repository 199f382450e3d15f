// jiffy/thread_annotations.hpp — Clang thread-safety annotations, as Abseil
// spells them, for jiffy's locks and for the data your code guards with them.
//
// Why: which lock guards which data is otherwise written only in comments,
// and a comment cannot stop the one write that forgot the lock. Clang's
// -Wthread-safety checks it at compile time, function by function: every
// jiffy lock (spinlock, ticket_spinlock, mcs_spinlock, rw_spinlock,
// seqlock's writer side, mutex) is declared a capability, so data marked
// JIFFY_GUARDED_BY(some_jiffy_lock) may only be touched where the analysis
// can see that lock held. Under other compilers every macro expands to
// nothing: annotated code builds everywhere and is checked where Clang builds
// it (jiffy's CI does, with -Wthread-safety -Werror=thread-safety).
//
// How to annotate your own data:
//
//   #include <jiffy/lock_guard.hpp>          // includes this header
//
//   class account {
//    public:
//     void deposit(long n) JIFFY_EXCLUDES(mu_) {
//       jiffy::lock_guard g(mu_);            // std::lock_guard is not annotated in libstdc++
//       add(n);
//     }
//    private:
//     void add(long n) JIFFY_REQUIRES(mu_) { balance_ += n; }
//     jiffy::spinlock mu_;
//     long balance_ JIFFY_GUARDED_BY(mu_) = 0;
//     history* log_ JIFFY_PT_GUARDED_BY(mu_);   // the pointee is guarded, the pointer is not
//   };
//
//  * Take locks with jiffy::lock_guard / jiffy::shared_lock_guard, or with
//    lock()/unlock() in the same function. std::lock_guard, std::unique_lock
//    and std::scoped_lock still work, but the analysis cannot see through
//    them: guarded data touched under them is reported.
//  * Readers of an rw_spinlock: JIFFY_GUARDED_BY(rw) data may be read under
//    lock_shared() (or jiffy::shared_lock_guard) and written only under lock().
//  * A condition_variable wait on a jiffy::mutex directly (cv.wait(mu, pred)
//    inside a lock_guard's scope) is checked: it requires mu held. A
//    predicate lambda that reads guarded data needs the annotation too:
//    cv.wait(mu, [&]() JIFFY_REQUIRES(mu) { return ready_; }).
//  * try_lock() is annotated: `if (l.try_lock()) { ...; l.unlock(); }` checks.
//  * Code the analysis cannot follow (a lock taken in one function and
//    released in another, a hand-off between threads) gets
//    JIFFY_NO_THREAD_SAFETY_ANALYSIS on that function, with a comment why.
//  * The analysis is local and needs Clang; it is not a race detector (TSan
//    is): it checks the locking discipline the annotations state.
//
// Reference: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
#pragma once

#if defined(__clang__)
#define JIFFY_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define JIFFY_THREAD_ANNOTATION_(x)  // GCC has no thread-safety analysis
#endif

// On a class: its objects are locks (capabilities). x names the kind in
// diagnostics ("requires holding spinlock 'mu_'").
#define JIFFY_CAPABILITY(x) JIFFY_THREAD_ANNOTATION_(capability(x))

// On an RAII class: it holds the capabilities its constructor acquires until
// its destructor (jiffy::lock_guard).
#define JIFFY_SCOPED_CAPABILITY JIFFY_THREAD_ANNOTATION_(scoped_lockable)

// On data: reads need x held (shared or exclusive), writes need it exclusive.
#define JIFFY_GUARDED_BY(x) JIFFY_THREAD_ANNOTATION_(guarded_by(x))

// On a pointer or smart pointer: the same rule for what it points to.
#define JIFFY_PT_GUARDED_BY(x) JIFFY_THREAD_ANNOTATION_(pt_guarded_by(x))

// On functions: acquires the capabilities (exclusive / shared) and returns
// holding them. With no argument on a lock's own member: *this.
#define JIFFY_ACQUIRE(...) JIFFY_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define JIFFY_ACQUIRE_SHARED(...) JIFFY_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))

// On functions: releases capabilities held exclusively / shared / in either
// mode (the last for a scoped guard's destructor).
#define JIFFY_RELEASE(...) JIFFY_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define JIFFY_RELEASE_SHARED(...) JIFFY_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
#define JIFFY_RELEASE_GENERIC(...) JIFFY_THREAD_ANNOTATION_(release_generic_capability(__VA_ARGS__))

// On functions returning bool: the first argument is the value meaning
// "acquired" (JIFFY_TRY_ACQUIRE(true) on try_lock()).
#define JIFFY_TRY_ACQUIRE(...) JIFFY_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define JIFFY_TRY_ACQUIRE_SHARED(...) JIFFY_THREAD_ANNOTATION_(try_acquire_shared_capability(__VA_ARGS__))

// On functions: the caller must hold the capabilities (exclusive / at least
// shared) when calling, and still holds them afterwards.
#define JIFFY_REQUIRES(...) JIFFY_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define JIFFY_REQUIRES_SHARED(...) JIFFY_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))

// On functions: the caller must not hold the capabilities (the function
// takes them itself; a non-recursive lock would deadlock).
#define JIFFY_EXCLUDES(...) JIFFY_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// On a function returning a reference to a lock: which one (an accessor for
// a private lock, so callers' annotations can name it).
#define JIFFY_RETURN_CAPABILITY(x) JIFFY_THREAD_ANNOTATION_(lock_returned(x))

// On a function that aborts unless x is held: afterwards the analysis
// assumes it is.
#define JIFFY_ASSERT_CAPABILITY(x) JIFFY_THREAD_ANNOTATION_(assert_capability(x))

// On a function: do not analyse its body. For a lock's own implementation,
// and for code whose locking the analysis cannot express; say why beside it.
#define JIFFY_NO_THREAD_SAFETY_ANALYSIS JIFFY_THREAD_ANNOTATION_(no_thread_safety_analysis)
