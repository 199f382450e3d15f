// Locks jiffy does not own, under `full` preemption at a 50 us quantum:
// std::mutex, recursive_mutex, timed_mutex, shared_mutex (both modes), raw
// pthread mutexes and rwlocks, function-local statics, std::call_once and
// pthread_once. Each case proves three things: no worker hangs (a watchdog
// turns a hang into a failure), mutual exclusion holds, and preemption
// signals really landed while the locks were held (deferred_preemptions),
// i.e. the case would have hung or broken exclusion if holders were
// preemptible. (platform/lock_interposition.hpp explains the mechanism.)
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <pthread.h>
#include <shared_mutex>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int fibers = 64;

// Arithmetic in the program's own code (an async-safe point), long enough
// at a 50 us quantum for signals to land in it.
[[gnu::noinline]] double compute(int iterations) {
  volatile double x = 1.0;
  for (int i = 0; i < iterations; ++i) x = x * 1.0000001 + 1e-7;
  return x;
}

// Counts overlapping critical sections: any overlap is a broken exclusion.
struct exclusion_probe {
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  long total = 0;  // written only inside the critical section

  void critical_section() {
    if (inside.fetch_add(1, std::memory_order_relaxed) != 0) overlaps.fetch_add(1, std::memory_order_relaxed);
    (void)compute(4000);
    ++total;
    inside.fetch_sub(1, std::memory_order_relaxed);
  }
};

jiffy::runtime_options short_quantum(unsigned workers) {
  return {.workers = workers, .preempt = jiffy::preempt_mode::full, .quantum = 50us};
}

// Runs `fibers` fibers that each call body(i) `rounds` times; returns the
// runtime's stats.
template <class Body>
jiffy::runtime_stats run_fibers(unsigned workers, int rounds, Body body) {
  jiffy::runtime rt(short_quantum(workers));
  std::vector<jiffy::fiber> fs;
  fs.reserve(fibers);
  for (int f = 0; f < fibers; ++f)
    fs.push_back(rt.spawn([&, f] {
      for (int r = 0; r < rounds; ++r) body(f);
    }));
  for (auto& f : fs) f.join();
  return rt.stats();
}

// The exclusive-lock cases share one shape: lock, critical section, unlock.
template <class W, class Lock, class Unlock>
void check_exclusive(const char* what, Lock lock, Unlock unlock) {
  test::watchdog wd(20s, what);
  CHECK(jiffy::foreign_locks_hold_off_preemption());
  const int rounds = test::scale(40);
  // Until a run shows signals that landed while a lock was held (and
  // waited): on a loaded machine one run may see none. Exclusion is checked
  // on every run.
  jiffy::runtime_stats stats;
  for (int attempt = 0; attempt < 20 && stats.deferred_preemptions == 0; ++attempt) {
    exclusion_probe probe;
    stats = run_fibers(W::count, rounds, [&](int) {
      lock();
      probe.critical_section();
      unlock();
    });
    CHECK(probe.overlaps.load() == 0);
    CHECK(probe.total == static_cast<long>(fibers) * rounds);
  }
  CHECK(jiffy::preempt_count() == 0);
  MESSAGE(std::string(what) << ": preemptions " << stats.preemptions << ", deferred " << stats.deferred_preemptions);
  CHECK(stats.deferred_preemptions > 0);
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("fibers holding a std::mutex under full preemption never hang a worker and stay exclusive", W,
                          std_mutex_case) {
  std::mutex m;
  check_exclusive<W>(
      "std::mutex", [&] { m.lock(); }, [&] { m.unlock(); });
}
TEST_CASE_TEMPLATE_APPLY(std_mutex_case, std::tuple<test::on_workers<1>, test::on_workers<2>, test::on_workers<4>>);

TEST_CASE_TEMPLATE_DEFINE("a std::recursive_mutex taken twice by each fiber under full preemption stays exclusive", W,
                          recursive_case) {
  // glibc records the owning thread: were a holder preemptible, a second
  // fiber on its worker would be let in.
  std::recursive_mutex m;
  check_exclusive<W>(
      "std::recursive_mutex",
      [&] {
    m.lock();
    m.lock();
      },
      [&] {
    m.unlock();
    m.unlock();
  });
}
TEST_CASE_TEMPLATE_APPLY(recursive_case, std::tuple<test::on_workers<1>, test::on_workers<2>, test::on_workers<4>>);

TEST_CASE_TEMPLATE_DEFINE("a std::timed_mutex taken with try_lock_for under full preemption stays exclusive", W,
                          timed_case) {
  std::timed_mutex m;
  std::atomic<int> timeouts{0};
  check_exclusive<W>(
      "std::timed_mutex",
      [&] {
    while (!m.try_lock_for(10s)) timeouts.fetch_add(1);
      },
      [&] { m.unlock(); });
  CHECK(timeouts.load() == 0);
}
TEST_CASE_TEMPLATE_APPLY(timed_case, std::tuple<test::on_workers<1>, test::on_workers<2>>);

TEST_CASE_TEMPLATE_DEFINE(
    "raw pthread mutexes, taken by lock and by a trylock loop, stay exclusive under full preemption", W,
    pthread_mutex_case) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  // Half the fibers poll with trylock and yield between attempts: a failed
  // trylock must leave the count as it was, or the yield would be
  // "scheduling while atomic".
  std::atomic<int> turn{0};
  check_exclusive<W>(
      "pthread_mutex",
      [&] {
    if (turn.fetch_add(1, std::memory_order_relaxed) % 2) {
      REQUIRE(pthread_mutex_lock(&m) == 0);
    } else {
      while (pthread_mutex_trylock(&m) != 0) jiffy::this_fiber::yield();
    }
      },
      [&] { REQUIRE(pthread_mutex_unlock(&m) == 0); });
  pthread_mutex_destroy(&m);
}
TEST_CASE_TEMPLATE_APPLY(pthread_mutex_case, std::tuple<test::on_workers<1>, test::on_workers<2>>);

// Readers and writers: writers keep two fields equal; a reader that sees them
// differ saw a writer inside. Exclusive mode is also checked by the probe.
template <class W, class WriteLock, class WriteUnlock, class ReadLock, class ReadUnlock>
void check_readers_writers(const char* what, WriteLock wl, WriteUnlock wu, ReadLock rl, ReadUnlock ru) {
  test::watchdog wd(20s, what);
  CHECK(jiffy::foreign_locks_hold_off_preemption());
  const int rounds = test::scale(40);
  jiffy::runtime_stats stats;
  for (int attempt = 0; attempt < 20 && stats.deferred_preemptions == 0; ++attempt) {  // as check_exclusive
    exclusion_probe probe;
    long a = 0, b = 0;
    std::atomic<int> torn{0}, reads{0};
    stats = run_fibers(W::count, rounds, [&](int f) {
      if (f % 4 == 0) {
        wl();
        ++a;
        probe.critical_section();
        ++b;
        wu();
      } else {
        rl();
        long x = a;
        (void)compute(4000);
        if (b != x) torn.fetch_add(1, std::memory_order_relaxed);
        reads.fetch_add(1, std::memory_order_relaxed);
        ru();
      }
    });
    CHECK(probe.overlaps.load() == 0);
    CHECK(torn.load() == 0);
    CHECK(a == b);
    CHECK(probe.total == static_cast<long>(fibers / 4) * rounds);
    CHECK(reads.load() == (fibers - fibers / 4) * rounds);
  }
  MESSAGE(std::string(what) << ": preemptions " << stats.preemptions << ", deferred " << stats.deferred_preemptions);
  CHECK(stats.deferred_preemptions > 0);
}

TEST_CASE_TEMPLATE_DEFINE("a std::shared_mutex in both modes under full preemption never hangs and keeps writers alone",
                          W, shared_case) {
  // glibc records a write-holder's thread: a preemptible holder would make
  // a reader on the same worker fail with EDEADLK.
  std::shared_mutex m;
  check_readers_writers<W>(
      "std::shared_mutex", [&] { m.lock(); }, [&] { m.unlock(); }, [&] { m.lock_shared(); },
      [&] { m.unlock_shared(); });
}
TEST_CASE_TEMPLATE_APPLY(shared_case, std::tuple<test::on_workers<1>, test::on_workers<2>, test::on_workers<4>>);

TEST_CASE_TEMPLATE_DEFINE(
    "a std::shared_timed_mutex taken with try_lock_for in both modes under full preemption keeps writers alone", W,
    shared_timed_case) {
  std::shared_timed_mutex m;
  check_readers_writers<W>(
      "std::shared_timed_mutex", [&] { REQUIRE(m.try_lock_for(10s)); }, [&] { m.unlock(); },
      [&] { REQUIRE(m.try_lock_shared_for(10s)); }, [&] { m.unlock_shared(); });
}
TEST_CASE_TEMPLATE_APPLY(shared_timed_case, std::tuple<test::on_workers<1>, test::on_workers<2>>);

TEST_CASE_TEMPLATE_DEFINE("raw pthread rwlocks under full preemption never hang and keep writers alone", W,
                          pthread_rwlock_case) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  check_readers_writers<W>(
      "pthread_rwlock", [&] { REQUIRE(pthread_rwlock_wrlock(&l) == 0); },
      [&] { REQUIRE(pthread_rwlock_unlock(&l) == 0); }, [&] { REQUIRE(pthread_rwlock_rdlock(&l) == 0); },
      [&] { REQUIRE(pthread_rwlock_unlock(&l) == 0); });
  pthread_rwlock_destroy(&l);
}
TEST_CASE_TEMPLATE_APPLY(pthread_rwlock_case, std::tuple<test::on_workers<1>, test::on_workers<2>>);

namespace {

// Function-local statics with slow initialisers, distinct per worker count
// (a static initialises once per process, and the suite may run every case
// in one process). Each counts its initialisations.
constexpr int statics = 6;
std::atomic<int> static_inits[8][statics];

template <class W, int I>
int slow_static() {
  static const int value = [] {
    static_inits[W::count % 8][I].fetch_add(1, std::memory_order_relaxed);
    (void)compute(1000000);  // over 1 ms: many quanta at 50 us
    return 1000 + I;
  }();
  return value;
}

template <class W, int... I>
int touch_statics(int start, std::integer_sequence<int, I...>) {
  using fn = int (*)();
  static constexpr fn all[] = {&slow_static<W, I>...};
  int sum = 0;
  for (int k = 0; k < statics; ++k) sum += all[(start + k) % statics]();
  return sum;
}

// pthread_once's routine takes no argument: one per (worker count, index).
std::atomic<int> once_runs[8][statics];
template <class W, int I>
void once_routine() {
  once_runs[W::count % 8][I].fetch_add(1, std::memory_order_relaxed);
  (void)compute(1000000);
}
template <class W, int I>
pthread_once_t once_control = PTHREAD_ONCE_INIT;

template <class W, int... I>
void run_pthread_onces(int start, std::integer_sequence<int, I...>) {
  using routine = void (*)();
  static routine routines[] = {&once_routine<W, I>...};
  static pthread_once_t* controls[] = {&once_control<W, I>...};
  for (int k = 0; k < statics; ++k) {
    int i = (start + k) % statics;
    REQUIRE(pthread_once(controls[i], routines[i]) == 0);
  }
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE(
    "function-local statics initialised by preempted fibers under full preemption never hang a worker and run once", W,
    statics_case) {
  test::watchdog wd(20s, "function-local statics");
  CHECK(jiffy::foreign_locks_hold_off_preemption());
  const int expected = [] {
    int s = 0;
    for (int i = 0; i < statics; ++i) s += 1000 + i;
    return s;
  }();
  std::atomic<int> wrong{0};
  auto stats = run_fibers(W::count, 1, [&](int f) {
    if (touch_statics<W>(f, std::make_integer_sequence<int, statics>{}) != expected) wrong.fetch_add(1);
  });
  CHECK(wrong.load() == 0);
  for (int i = 0; i < statics; ++i) CHECK(static_inits[W::count % 8][i].load() == 1);
  MESSAGE("statics: preemptions " << stats.preemptions << ", deferred " << stats.deferred_preemptions);
  CHECK(stats.deferred_preemptions > 0);  // signals landed inside the initialisers
}
TEST_CASE_TEMPLATE_APPLY(statics_case, std::tuple<test::on_workers<1>, test::on_workers<2>, test::on_workers<4>>);

TEST_CASE_TEMPLATE_DEFINE("std::call_once under full preemption never hangs a worker and runs each callable once", W,
                          call_once_case) {
  test::watchdog wd(20s, "std::call_once");
  std::once_flag flags[statics];
  std::atomic<int> runs[statics] = {};
  auto stats = run_fibers(W::count, 1, [&](int f) {
    for (int k = 0; k < statics; ++k) {
      int i = (f + k) % statics;
      std::call_once(flags[i], [&, i] {
        runs[i].fetch_add(1, std::memory_order_relaxed);
        (void)compute(1000000);
      });
    }
  });
  for (int i = 0; i < statics; ++i) CHECK(runs[i].load() == 1);
  MESSAGE("call_once: preemptions " << stats.preemptions << ", deferred " << stats.deferred_preemptions);
  CHECK(stats.deferred_preemptions > 0);
}
TEST_CASE_TEMPLATE_APPLY(call_once_case, std::tuple<test::on_workers<1>, test::on_workers<2>, test::on_workers<4>>);

TEST_CASE_TEMPLATE_DEFINE("pthread_once under full preemption never hangs a worker and runs each routine once", W,
                          pthread_once_case) {
  test::watchdog wd(20s, "pthread_once");
  CHECK(jiffy::foreign_locks_hold_off_preemption());
  auto stats =
      run_fibers(W::count, 1, [&](int f) { run_pthread_onces<W>(f, std::make_integer_sequence<int, statics>{}); });
  for (int i = 0; i < statics; ++i) CHECK(once_runs[W::count % 8][i].load() == 1);
  MESSAGE("pthread_once: preemptions " << stats.preemptions << ", deferred " << stats.deferred_preemptions);
  CHECK(stats.deferred_preemptions > 0);
}
TEST_CASE_TEMPLATE_APPLY(pthread_once_case, std::tuple<test::on_workers<1>, test::on_workers<2>>);

TEST_CASE("holding a std::mutex raises the preempt count, and releasing it restores it") {
  CHECK(jiffy::foreign_locks_hold_off_preemption());
  jiffy::runtime rt({.workers = 1});
  rt.block_on([] {
    std::mutex m;
    CHECK(jiffy::preempt_count() == 0);
    m.lock();
    CHECK(jiffy::preempt_count() == 1);
    CHECK_FALSE(jiffy::preemptible());
    m.unlock();
    CHECK(jiffy::preempt_count() == 0);
    // A failed try_lock leaves nothing held and nothing raised.
    m.lock();
    bool other = true;
    std::thread([&] { other = m.try_lock(); }).join();
    CHECK_FALSE(other);
    m.unlock();
    CHECK(jiffy::preempt_count() == 0);
    std::timed_mutex t;
    t.lock();
    std::thread([&] { other = t.try_lock_for(1ms); }).join();
    CHECK_FALSE(other);
    t.unlock();
    CHECK(jiffy::preempt_count() == 0);
  });
}
