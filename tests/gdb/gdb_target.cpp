// The program tests/gdb/check_gdb.py runs under gdb: a runtime with two
// workers and named fibers held in known states, each inside a function of
// its own, while the main thread stops in jiffy_gdb_target_ready() for gdb
// to look. Then it releases them all and exits with 0.
//
//   "mutex-waiter"  batch, nice 5: parked on a jiffy::mutex the main thread holds
//   "cv-waiter"     rr, priority 10: parked in condition_variable::wait
//   "joiner"        normal: parked joining cv-waiter
//   "sleeper"       idle: in this_fiber::sleep_for (2 s at a time until released)
//   "yielder"       normal, pinned to worker 0: runnable, queued behind the spinner
//   "spinner"       fifo, priority 50, pinned to worker 0: running a spin
//   "main-fiber"    normal, a main fiber: not started (nothing serves main fibers yet)
//
// Preemption is off (preempt_mode::none) and real-time throttling too, so
// nothing moves while gdb looks: the spinner keeps worker 0 and the yielder,
// pinned there, stays queued.
#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace {

std::atomic<bool> released{false};
std::atomic<int> about_to_park{0};
std::atomic<long> yields{0};
std::atomic<bool> spinning{false};

// Each waits in a function of its own, which gdb's backtrace must show.
[[gnu::noinline]] void gdb_target_parked_on_mutex(jiffy::mutex& m) {
  about_to_park.fetch_add(1);
  m.lock();
  m.unlock();
  asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
}

[[gnu::noinline]] void gdb_target_parked_on_condition(jiffy::mutex& m, jiffy::condition_variable& cv, bool& go) {
  jiffy::lock_guard<jiffy::mutex> lk(m);
  about_to_park.fetch_add(1);
  cv.wait(m, [&]() JIFFY_REQUIRES(m) { return go; });
  asm volatile("" ::: "memory");
}

[[gnu::noinline]] void gdb_target_joining(jiffy::fiber& f) {
  about_to_park.fetch_add(1);
  f.join();
  asm volatile("" ::: "memory");
}

[[gnu::noinline]] void gdb_target_sleeping() {
  about_to_park.fetch_add(1);
  while (!released.load()) jiffy::this_fiber::sleep_for(std::chrono::seconds(2));
  asm volatile("" ::: "memory");
}

[[gnu::noinline]] void gdb_target_yielding() {
  while (!released.load()) {
    yields.fetch_add(1);
    jiffy::this_fiber::yield();
  }
  asm volatile("" ::: "memory");
}

[[gnu::noinline]] void gdb_target_spinning() {
  spinning.store(true);
  while (!released.load()) asm volatile("" ::: "memory");
}

void wait_until(auto done) {
  while (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

// gdb stops here (break jiffy_gdb_target_ready).
extern "C" [[gnu::noinline]] void jiffy_gdb_target_ready() { asm volatile("" ::: "memory"); }

int main() {
  jiffy::runtime rt({.workers = 2, .preempt = jiffy::preempt_mode::none, .rt_runtime = std::chrono::microseconds(0)});
  jiffy::mutex held;
  held.lock();
  jiffy::mutex cv_mutex;
  jiffy::condition_variable cv;
  bool go = false;

  jiffy::fiber mutex_waiter = rt.spawn({.policy = jiffy::sched_policy::batch, .nice = 5, .name = "mutex-waiter"},
                                       [&] { gdb_target_parked_on_mutex(held); });
  jiffy::fiber cv_waiter = rt.spawn({.policy = jiffy::sched_policy::rr, .priority = 10, .name = "cv-waiter"},
                                    [&] { gdb_target_parked_on_condition(cv_mutex, cv, go); });
  jiffy::fiber joiner = rt.spawn({.name = "joiner"}, [&] { gdb_target_joining(cv_waiter); });
  // Spawned from a fiber, so that it is in a worker's slots (detail/
  // live_fibers.hpp) while the others are on the list of outside spawns.
  jiffy::fiber sleeper = rt.block_on([] {
    return jiffy::spawn({.policy = jiffy::sched_policy::idle, .name = "sleeper"}, [] { gdb_target_sleeping(); });
  });
  // Four fibers about to park, and parked: parks are counted just before the
  // switch, and the pause covers the few instructions after it.
  wait_until([&] { return about_to_park.load() == 4 && rt.stats().parks >= 4; });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  jiffy::fiber yielder = rt.spawn_pinned(0, {.name = "yielder"}, [] { gdb_target_yielding(); });
  wait_until([] { return yields.load() > 0; });
  jiffy::fiber spinner = rt.spawn_pinned(0, {.policy = jiffy::sched_policy::fifo, .priority = 50, .name = "spinner"},
                                         [] { gdb_target_spinning(); });
  wait_until([] { return spinning.load(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the yielder queued again behind it

  jiffy::fiber main_fiber = rt.spawn_main({.name = "main-fiber"}, [] {});

  std::printf("gdb_target: ready\n");
  std::fflush(stdout);
  jiffy_gdb_target_ready();

  released.store(true);
  held.unlock();
  {
    jiffy::lock_guard<jiffy::mutex> lk(cv_mutex);
    go = true;
  }
  cv.notify_all();
  mutex_waiter.join();
  joiner.join();
  sleeper.join();
  yielder.join();
  spinner.join();
  main_fiber.join();  // served here
  std::printf("gdb_target: released every fiber\n");
  return 0;
}
