// bench/lockbench_roster.cpp — the locks every serious comparison includes,
// beside jiffy's (lockbench_locks.cpp registers those):
//
//  * the roster from the literature, written for lockbench (bench/locks/,
//    one algorithm per header, each citing its paper): CLH, Anderson's
//    array lock, the ticket lock with proportional backoff, Hemlock, and a
//    preemption-adaptive MCS after MCS-TP;
//  * the baselines `empty` and `fetch_add` (bench/locks/baselines.hpp),
//    measured uncontended only: the harness's own cost, and one atomic;
//  * other libraries' locks when the build found them: oneTBB's spin_mutex
//    and queuing_mutex (libtbb-dev), Abseil's Mutex (libabsl-dev), and
//    glibc's adaptive mutex (PTHREAD_MUTEX_ADAPTIVE_NP, always there).
//
// A lock that waits in the OS (a futex) is marked blocks_thread: a fiber
// holding it could be preempted under `full`, and a waiter on the same
// worker would then block the worker for good. oneTBB's two mutexes spin
// (with sched_yield) in inline header code, so fibers can be preempted
// while they wait; Abseil's Mutex and glibc's adaptive mutex sleep in the
// kernel after a short spin.
#include "lockbench_tool.hpp"
#include "locks/anderson.hpp"
#include "locks/baselines.hpp"
#include "locks/clh.hpp"
#include "locks/hemlock.hpp"
#include "locks/mcs_tp.hpp"
#include "locks/ticket_backoff.hpp"

#include <pthread.h>

#if JIFFY_LOCKBENCH_HAVE_TBB
#include <oneapi/tbb/queuing_mutex.h>
#include <oneapi/tbb/spin_mutex.h>
#endif
#if JIFFY_LOCKBENCH_HAVE_ABSL
#include <absl/synchronization/mutex.h>
#endif

namespace lockbench::tool {
namespace {

namespace lk = lockbench::locks;

// Anderson's lock with a slot per contender, up to 64 (8 KiB of slots).
using anderson64 = lk::anderson_lock<64>;
using ticket_backoff64 = lk::ticket_backoff_lock<64>;

// glibc's adaptive mutex: spins a while (up to a learned bound) before it
// sleeps on the futex.
class pthread_adaptive_mutex {
 public:
  pthread_adaptive_mutex() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&m_, &a);
    pthread_mutexattr_destroy(&a);
  }
  pthread_adaptive_mutex(const pthread_adaptive_mutex&) = delete;
  pthread_adaptive_mutex& operator=(const pthread_adaptive_mutex&) = delete;
  ~pthread_adaptive_mutex() { pthread_mutex_destroy(&m_); }
  void lock() { pthread_mutex_lock(&m_); }
  void unlock() { pthread_mutex_unlock(&m_); }
  std::size_t lockbench_size() const { return sizeof m_; }

 private:
  pthread_mutex_t m_;
};

#if JIFFY_LOCKBENCH_HAVE_TBB
// queuing_mutex is an MCS lock whose node is a scoped_lock: one per
// contender, kept for the run (fibers may migrate; the node goes with them).
class tbb_queuing {
 public:
  class waiter {
   public:
    explicit waiter(tbb::queuing_mutex& m) : m_(&m) {}
    void lock() { node_.acquire(*m_); }
    void unlock() { node_.release(); }

   private:
    tbb::queuing_mutex* m_;
    tbb::queuing_mutex::scoped_lock node_;
  };
  waiter contender() { return waiter(m_); }
  std::size_t lockbench_size() const { return sizeof m_; }

 private:
  tbb::queuing_mutex m_;
};
#endif

#if JIFFY_LOCKBENCH_HAVE_ABSL
// A Lockable wrapper; Abseil's annotations would have Clang's thread-safety
// analysis flag the wrapper itself, which is what it is for.
class absl_mutex {
 public:
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { m_.Lock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { m_.Unlock(); }
  std::size_t lockbench_size() const { return sizeof m_; }

 private:
  absl::Mutex m_;
};
#endif

}  // namespace

std::vector<lock_entry> roster_locks() {
  return {
      make_entry<lk::empty_lock>("empty", "baseline: lock() and unlock() do nothing", false, true),
      make_entry<lk::fetch_add_lock>("fetch_add", "baseline: one atomic fetch_add per pair", false, true),
      make_entry<lk::clh_lock>("clh", "CLH queue lock (+ node per waiter)"),
      make_entry<anderson64>("anderson", "Anderson array lock, 64 slots"),
      make_entry<ticket_backoff64>("ticket_backoff", "ticket lock, proportional backoff (64 pauses)"),
      make_entry<lk::hemlock>("hemlock", "Hemlock (+ grant word per waiter)"),
      make_entry<lk::mcs_tp_lock>("mcs_tp", "MCS-TP-style time-published MCS (+ node)"),
  };
}

std::vector<lock_entry> library_locks() {
  return {
#if JIFFY_LOCKBENCH_HAVE_TBB
    make_entry<tbb::spin_mutex>("tbb_spin", "oneTBB spin_mutex"),
        make_entry<tbb_queuing>("tbb_queuing", "oneTBB queuing_mutex (+ scoped_lock node)"),
#endif
#if JIFFY_LOCKBENCH_HAVE_ABSL
        make_entry<absl_mutex>("absl_mutex", "absl::Mutex", true),
#endif
        make_entry<pthread_adaptive_mutex>("pthread_adaptive", "pthread_mutex_t, PTHREAD_MUTEX_ADAPTIVE_NP", true),
  };
}

}  // namespace lockbench::tool
