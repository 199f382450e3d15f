// Clang's thread-safety analysis over jiffy's locks, from a user's side
// (Clang only; tests/CMakeLists.txt registers it).
//
// Built as it is, this is correctly annotated user code: data guarded by
// each kind of jiffy lock, taken with jiffy::lock_guard, shared_lock_guard,
// lock()/unlock() and try_lock(), functions that require or exclude a lock,
// and a condition_variable wait. It must compile with -Wthread-safety
// -Werror, and it runs (a plain program: main returns 0 when the guarded
// updates happened as written).
//
// Built with -DMISUSE_CASE=n (1..6), it adds one mistake, which must fail
// the build with the analysis's diagnostic for it (each ctest test matches
// its message, so a failure for any other reason does not pass):
//   1  writing guarded data without the lock
//   2  taking a lock that is already held
//   3  unlocking a lock that is not held
//   4  calling a JIFFY_REQUIRES function without the lock
//   5  writing data guarded by an rw_spinlock under a shared hold only
//   6  returning with a lock still held
#include <jiffy/lock_guard.hpp>
#include <jiffy/spinlock.hpp>
#include <jiffy/sync.hpp>
#include <jiffy/thread_annotations.hpp>

#include <cstdio>
#include <thread>

namespace {

// One account per kind of exclusive jiffy lock: the same code checks each.
template <class Lock>
class account {
 public:
  void deposit(long n) JIFFY_EXCLUDES(mu_) {
    jiffy::lock_guard g(mu_);
    add(n);
  }

  bool try_deposit(long n) JIFFY_EXCLUDES(mu_) {
    if (!mu_.try_lock()) return false;
    add(n);
    mu_.unlock();
    return true;
  }

  long balance() JIFFY_EXCLUDES(mu_) {
    mu_.lock();
    long b = balance_;
    mu_.unlock();
    return b;
  }

  // Lets callers name the private lock in their own annotations.
  Lock& lock() JIFFY_RETURN_CAPABILITY(mu_) { return mu_; }

  void add(long n) JIFFY_REQUIRES(mu_) {
    balance_ += n;
    *last_ = n;
  }

 private:
  Lock mu_;
  long balance_ JIFFY_GUARDED_BY(mu_) = 0;
  long last_value_ = 0;
  long* last_ JIFFY_PT_GUARDED_BY(mu_) = &last_value_;  // the pointee is guarded
};

// Deposits 20 in all, each way of holding the lock once.
template <class Lock>
long exercise() {
  account<Lock> a;
  a.deposit(2);
  if (!a.try_deposit(3)) a.deposit(3);
  {
    jiffy::lock_guard g(a.lock());  // a caller holding the lock by its accessor's name
    a.add(5);
  }
  {
    a.lock().lock();
    jiffy::lock_guard adopted(a.lock(), std::adopt_lock);  // takes over a held lock
    a.add(10);
  }
  return a.balance();
}

// Readers share an rw_spinlock; writers hold it exclusively.
class table {
 public:
  int get() const JIFFY_EXCLUDES(rw_) {
    jiffy::shared_lock_guard g(rw_);
    return read_locked();
  }
  bool try_get(int& out) const JIFFY_EXCLUDES(rw_) {
    if (!rw_.try_lock_shared()) return false;
    out = value_;
    rw_.unlock_shared();
    return true;
  }
  void set(int v) JIFFY_EXCLUDES(rw_) {
    jiffy::lock_guard g(rw_);
    value_ = v;
  }
#if MISUSE_CASE == 5
  void set_under_shared_hold(int v) {
    jiffy::shared_lock_guard g(rw_);
    value_ = v;
  }
#endif

 private:
  int read_locked() const JIFFY_REQUIRES_SHARED(rw_) { return value_; }
  mutable jiffy::rw_spinlock rw_;
  int value_ JIFFY_GUARDED_BY(rw_) = 0;
};

// A seqlock's writers are checked; its readers hold nothing, by design.
struct sequenced {
  jiffy::seqlock lock;
  int x JIFFY_GUARDED_BY(lock) = 0;
  void write(int v) JIFFY_EXCLUDES(lock) {
    jiffy::lock_guard g(lock);
    x = v;
  }
};

// A mutex, a condition_variable waited on with the mutex itself, and a
// predicate annotated as running under it.
struct mailbox {
  jiffy::mutex mu;
  jiffy::condition_variable cv;
  int letter JIFFY_GUARDED_BY(mu) = 0;

  void post(int v) JIFFY_EXCLUDES(mu) {
    {
      jiffy::lock_guard g(mu);
      letter = v;
    }
    cv.notify_one();
  }
  int receive() JIFFY_EXCLUDES(mu) {
    jiffy::lock_guard g(mu);
    cv.wait(mu, [&]() JIFFY_REQUIRES(mu) { return letter != 0; });
    return letter;
  }
  bool receive_for(int& out) JIFFY_EXCLUDES(mu) {
    jiffy::lock_guard g(mu);
    if (!cv.wait_for(mu, std::chrono::seconds(30), [&]() JIFFY_REQUIRES(mu) { return letter != 0; })) return false;
    out = letter;
    return true;
  }
};

}  // namespace

// The mistakes: outside the anonymous namespace, so that an unused one is no
// -Wunused-function error of its own (each case must fail for one reason).
#if MISUSE_CASE == 1
struct unguarded_write {
  jiffy::spinlock mu;
  long counter JIFFY_GUARDED_BY(mu) = 0;
  void bump() { ++counter; }  // no lock taken
};
#elif MISUSE_CASE == 2
void misuse_double_lock(jiffy::mutex& mu) {
  jiffy::lock_guard g(mu);
  mu.lock();  // already held: a non-recursive lock deadlocks here
  mu.unlock();
}
#elif MISUSE_CASE == 3
void misuse_unlock_not_held(jiffy::ticket_spinlock& l) {
  l.unlock();  // never locked here
}
#elif MISUSE_CASE == 4
void misuse_requires_without_lock(account<jiffy::mcs_spinlock>& a) {
  a.add(1);  // add() requires a's lock
}
#elif MISUSE_CASE == 6
void misuse_return_holding(jiffy::spinlock& l, bool early) {
  l.lock();
  if (early) return;  // l is still held on this path
  l.unlock();
}
#endif

int main() {
  long expected = 20, total = 0;
  total += exercise<jiffy::spinlock>();
  total += exercise<jiffy::ticket_spinlock>();
  total += exercise<jiffy::mcs_spinlock>();
  total += exercise<jiffy::rw_spinlock>();
  total += exercise<jiffy::seqlock>();
  total += exercise<jiffy::mutex>();
  bool ok = total == 6 * expected;

  table t;
  t.set(7);
  int got = 0;
  ok = ok && t.get() == 7 && t.try_get(got) && got == 7;

  sequenced s;
  s.write(3);

  mailbox box;
  std::thread poster([&] { box.post(42); });
  ok = ok && box.receive() == 42;
  poster.join();
  int letter = 0;
  ok = ok && box.receive_for(letter) && letter == 42;

  std::printf("thread-safety annotated code: %s\n", ok ? "ran as written" : "WRONG RESULT");
  return ok ? 0 : 1;
}
