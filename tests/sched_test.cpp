// Scheduling classes: real-time priorities, fair shares, the idle class,
// wake-up preemption, priority inheritance, real-time throttling, lazy
// preemption, changing the mode at run time, and the tickless monitor.
//
// Hogs never yield; each turn is one relaxed atomic add (a real side effect,
// and a point where ThreadSanitizer delivers signals). Latencies are checked
// against a 100 ms quantum with wide margins: a wake-up that waited for the
// quantum is ~100 ms late, one that preempted is late by well under 40 ms
// even on a loaded 2-core VM.
#include "support.hpp"

#include <jiffy/io.hpp>
#include <jiffy/jiffy.hpp>

#include <doctest/doctest.h>
#include <dirent.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using jiffy::preempt_mode;
using jiffy::sched_policy;
using std::chrono::steady_clock;

namespace {

// ThreadSanitizer delivers a signal only at an intercepted call or a
// synchronisation point, which a hog's loop lacks (see detail/preemption.hpp,
// "Sanitizers"): under TSan the hogs call cond_resched(), and the same
// wake-up and slice decisions act through the voluntary path.
constexpr bool hogs_need_preemption_points = JIFFY_TSAN != 0;

constexpr auto long_quantum = 100ms;
constexpr auto preempted_soon = 40ms;  // far below the quantum, far above a preemption's cost

long ms_since(steady_clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t).count());
}

// A never-yielding fiber with its own turn counter.
struct hog {
  std::atomic<bool> stop{false};
  std::atomic<long> turns{0};
  jiffy::fiber f;

  void start(jiffy::runtime& rt, jiffy::fiber_options o = {}, bool cond_resched = hogs_need_preemption_points) {
    f = rt.spawn(o, [this, cond_resched] {
      while (!stop.load(std::memory_order_relaxed)) {
        turns.fetch_add(1, std::memory_order_relaxed);
        if (cond_resched) jiffy::cond_resched();
      }
    });
  }
  void finish() {
    stop = true;
    if (f.joinable()) f.join();
  }
};

// Hogs sharing one worker that each add up the wall-clock time they held it:
// an interval between two of a hog's turns counts only if no other hog took
// a turn in between. That is what the scheduler charges (it times slices in
// wall-clock time), so unlike a count of turns it is not skewed when the OS
// takes the worker's CPU away in the middle of one hog's slice.
struct timed_hogs {
  struct one {
    std::atomic<std::int64_t> held_ns{0};
    jiffy::fiber f;
  };
  std::atomic<bool> stop{false};
  std::atomic<const one*> last_turn{nullptr};  // whose turn was the last
  one hogs[2];

  void start(jiffy::runtime& rt, int i, jiffy::fiber_options o) {
    one* me = &hogs[i];
    me->f = rt.spawn(o, [this, me] {
      last_turn.store(me, std::memory_order_relaxed);
      auto since = steady_clock::now();  // read after our last claim of the turn
      while (!stop.load(std::memory_order_relaxed)) {
        auto now = steady_clock::now();
        // Another hog that ran since our last claim claimed the turn in
        // between (all on one worker: relaxed suffices), and [since, now]
        // then holds its time: not ours.
        if (last_turn.exchange(me, std::memory_order_relaxed) == me)
          me->held_ns.fetch_add((now - since).count(), std::memory_order_relaxed);
        since = steady_clock::now();
        if (hogs_need_preemption_points) jiffy::cond_resched();
      }
    });
  }
  // Held time of hog 0 over hog 1's.
  double finish() {
    stop = true;
    for (one& h : hogs) h.f.join();
    return static_cast<double>(hogs[0].held_ns.load()) /
           static_cast<double>(std::max<std::int64_t>(hogs[1].held_ns.load(), 1));
  }
};

// Worst lateness (ms) of `wakes` 5 ms sleeps of a fiber with options `o`
// beside a normal hog on one worker.
long worst_sleep_lateness(preempt_mode mode, jiffy::fiber_options o, int wakes = 5) {
  jiffy::runtime rt({.workers = 1, .preempt = mode, .quantum = long_quantum});
  hog h;
  h.start(rt, {}, mode == preempt_mode::voluntary || hogs_need_preemption_points);
  REQUIRE(test::wait_until([&] { return h.turns.load() > 0; }));
  std::atomic<long> worst{0};
  rt.spawn(o, [&] {
      for (int i = 0; i < wakes; ++i) {
        auto due = steady_clock::now() + 5ms;
        jiffy::this_fiber::sleep_until(due);
        long late = ms_since(due);
        if (late > worst.load()) worst = late;
      }
    }).join();
  h.finish();
  return worst.load();
}

}  // namespace

TEST_CASE("a fifo fiber woken by a timer preempts a normal hog long before the quantum ends") {
  test::watchdog wd(60s, "fifo timer wake-up");
  jiffy::fiber_options fifo{.policy = sched_policy::fifo, .priority = 50};
  for (preempt_mode mode : {preempt_mode::full, preempt_mode::lazy, preempt_mode::voluntary}) {
    std::string name = jiffy::preempt_mode_name(mode);
    CAPTURE(name);
    CHECK(worst_sleep_lateness(mode, fifo) < preempted_soon.count());
  }
}

TEST_CASE("a normal sleeper preempts a normal hog at once under full, but waits for the quantum under lazy") {
  test::watchdog wd(60s, "fair wake-up");
  CHECK(worst_sleep_lateness(preempt_mode::full, {}) < preempted_soon.count());
  // Under lazy the sleeper waits for what is left of the hog's quantum: the
  // hog's slice began when the sleeper went to sleep, 5 ms before its timer.
  CHECK(worst_sleep_lateness(preempt_mode::lazy, {}, 3) > 50);
  // A batch sleeper never preempts on wake-up.
  CHECK(worst_sleep_lateness(preempt_mode::full, {.policy = sched_policy::batch}, 3) > 50);
}

namespace {
// How long (ms) a fiber with options `o`, parked reading a pipe, takes to run
// once the pipe is written, beside a normal hog on one worker.
long pipe_wake_latency(preempt_mode mode, jiffy::fiber_options o) {
  jiffy::runtime rt({.workers = 1, .preempt = mode, .quantum = long_quantum});
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  jiffy::file reader(fds[0]);
  hog h;
  h.start(rt, {}, mode == preempt_mode::voluntary || hogs_need_preemption_points);
  REQUIRE(test::wait_until([&] { return h.turns.load() > 0; }));
  std::atomic<bool> parked{false};
  std::atomic<long> latency{-1};
  steady_clock::time_point written;
  auto f = rt.spawn(o, [&] {
    char c;
    parked = true;
    auto r = reader.read(&c, 1);
    latency = ms_since(written);
    CHECK(r);
  });
  REQUIRE(test::wait_until([&] { return parked.load(); }));
  std::this_thread::sleep_for(20ms);  // let it reach the poller (it is parked by then or the read is immediate)
  written = steady_clock::now();
  REQUIRE(::write(fds[1], "x", 1) == 1);
  f.join();
  h.finish();
  ::close(fds[1]);
  CHECK(latency.load() >= 0);
  return latency.load();
}
}  // namespace

TEST_CASE("a fifo fiber woken by a pipe becoming readable preempts a normal hog") {
  test::watchdog wd(60s, "fifo pipe wake-up");
  CHECK(pipe_wake_latency(preempt_mode::full, {.policy = sched_policy::fifo, .priority = 10}) < preempted_soon.count());
}

// The network's wake-ups are wake-ups like any other: a normal fiber that
// slept in the poller preempts a normal hog at once (not under lazy, and a
// batch one never).
TEST_CASE("a normal fiber woken by a pipe becoming readable preempts a normal hog under full, not under lazy") {
  test::watchdog wd(60s, "fair pipe wake-up");
  CHECK(pipe_wake_latency(preempt_mode::full, {}) < preempted_soon.count());
  CHECK(pipe_wake_latency(preempt_mode::lazy, {}) > 50);
  CHECK(pipe_wake_latency(preempt_mode::full, {.policy = sched_policy::batch}) > 50);
}

TEST_CASE("a fifo fiber woken by a notify from a plain thread preempts a normal hog") {
  test::watchdog wd(60s, "fifo notify wake-up");
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = long_quantum});
  hog h;
  h.start(rt);
  REQUIRE(test::wait_until([&] { return h.turns.load() > 0; }));
  jiffy::mutex mu;
  jiffy::condition_variable cv;
  bool ready = false;
  std::atomic<bool> waiting{false};
  std::atomic<long> latency{-1};
  steady_clock::time_point notified;
  auto f = rt.spawn({.policy = sched_policy::fifo, .priority = 10}, [&] {
    std::unique_lock<jiffy::mutex> lk(mu);
    waiting = true;
    cv.wait(lk, [&] { return ready; });
    latency = ms_since(notified);
  });
  REQUIRE(test::wait_until([&] { return waiting.load(); }));
  {
    std::lock_guard<jiffy::mutex> lk(mu);
    ready = true;
    notified = steady_clock::now();
  }
  cv.notify_one();
  f.join();
  h.finish();
  CHECK(latency.load() >= 0);
  CHECK(latency.load() < preempted_soon.count());
  CHECK(rt.stats().wakeup_preemptions >= 1);
}

TEST_CASE("fibers run by class and priority: fifo/rr high to low, then normal, then idle") {
  test::watchdog wd(60s, "priority order");
  jiffy::runtime rt({.workers = 1});
  std::vector<int> order;  // one worker: no two fibers run at once
  std::vector<jiffy::fiber> recorders;
  rt.spawn({.policy = sched_policy::fifo, .priority = 99}, [&] {
      // While this fiber runs, none of the others can: they queue.
      auto record = [&order](int tag) { return [&order, tag] { order.push_back(tag); }; };
      recorders.push_back(jiffy::spawn({.policy = sched_policy::idle}, record(0)));
      recorders.push_back(jiffy::spawn({.policy = sched_policy::fifo, .priority = 10}, record(10)));
      recorders.push_back(jiffy::spawn(record(1)));
      recorders.push_back(jiffy::spawn({.policy = sched_policy::rr, .priority = 30}, record(30)));
      recorders.push_back(jiffy::spawn({.policy = sched_policy::fifo, .priority = 20}, record(20)));
      recorders.push_back(jiffy::spawn({.policy = sched_policy::batch, .nice = 5}, record(2)));
    }).join();
  for (auto& f : recorders) f.join();  // also orders their writes before our reads
  REQUIRE(order.size() == 6);
  CHECK(order[0] == 30);
  CHECK(order[1] == 20);
  CHECK(order[2] == 10);
  CHECK(((order[3] == 1 && order[4] == 2) || (order[3] == 2 && order[4] == 1)));
  CHECK(order[5] == 0);
}

TEST_CASE("a fiber that spawns a higher-priority fiber gives way to it at once") {
  test::watchdog wd(60s, "spawn preemption");
  jiffy::runtime rt({.workers = 1});
  std::atomic<bool> child_ran{false};
  bool ran_before_spawn_returned = false;
  rt.spawn({.policy = sched_policy::fifo, .priority = 10}, [&] {
      auto c = jiffy::spawn({.policy = sched_policy::fifo, .priority = 20}, [&] { child_ran = true; });
      ran_before_spawn_returned = child_ran.load();
      c.join();
    }).join();
  CHECK(ran_before_spawn_returned);
}

namespace {

// Number of times the running fiber changed while two real-time fibers of
// equal priority, started together, computed on one worker with a 1 ms
// quantum until 100 ms after the first of them started.
int handovers_between_equals(sched_policy policy) {
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = 1ms});
  std::atomic<int> last{-1};
  std::atomic<int> changes{0};
  std::atomic<steady_clock::rep> end{0};
  rt.spawn({.policy = sched_policy::fifo, .priority = 99}, [&] {
      std::vector<jiffy::fiber> fs;
      for (int id = 0; id < 2; ++id)
        fs.push_back(jiffy::spawn({.policy = policy, .priority = 10}, [&, id] {
          steady_clock::rep none = 0;
          end.compare_exchange_strong(none, (steady_clock::now() + 100ms).time_since_epoch().count());
          for (long i = 0;; ++i) {
            if (i % 1024 == 0 && steady_clock::now().time_since_epoch().count() > end.load()) break;
            if (last.load(std::memory_order_relaxed) != id) {
              last.store(id, std::memory_order_relaxed);
              changes.fetch_add(1, std::memory_order_relaxed);
            }
            if (hogs_need_preemption_points) jiffy::cond_resched();
          }
        }));
      for (auto& f : fs) f.join();  // parks: only now do the two start
    }).join();
  return changes.load();
}

}  // namespace

TEST_CASE("equal-priority rr fibers alternate with the quantum, equal fifo fibers run one after the other") {
  test::watchdog wd(120s, "rr and fifo among equals");
  // fifo: the first runs to the end; the second, which runs only then,
  // finds the end passed before its first turn: one change in all (the
  // first fiber's start).
  CHECK(handovers_between_equals(sched_policy::fifo) == 1);
  // rr: about one change per quantum.
  CHECK(handovers_between_equals(sched_policy::rr) > 10);
}

TEST_CASE("nice 0 against nice 5 shares one worker about 1024:335") {
  test::watchdog wd(60s, "nice shares");
  // A long quantum: each slice ends late by the monitor's latency, which
  // the short nice-5 slice feels most; the monitor corrects up to 250 us of
  // it (learn_slice_end_lead), but under emulation it is ~3 ms.
  bool slow = test::slow_environment();
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = slow ? 20ms : 10ms});
  timed_hogs h;
  h.start(rt, 0, {.nice = 0});
  h.start(rt, 1, {.nice = 5});
  std::this_thread::sleep_for(slow ? 3s : 1s);
  double ratio = h.finish();
  CAPTURE(ratio);
  // The kernel's weights give 3.06, equal shares 1.0 (1.01-1.02 with the
  // weights ignored). The time each held the worker is what the weights
  // divide; a count of turns is not (when the OS takes the worker's CPU
  // away, whichever hog runs then loses turns but not time). The ratio of
  // turns at a 2 ms quantum fell below 1.3 once in CI under emulation.
  CHECK(ratio > (slow ? 1.4 : 1.8));
  CHECK(ratio < 4.5);
}

TEST_CASE("an idle-class fiber gets almost nothing beside a normal hog") {
  test::watchdog wd(60s, "idle class");
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = 1ms});
  hog normal, idle;
  idle.start(rt, {.policy = sched_policy::idle});
  normal.start(rt);
  std::this_thread::sleep_for(500ms);
  long idle_before = idle.turns.load();
  std::this_thread::sleep_for(500ms);
  long idle_gained = idle.turns.load() - idle_before;
  normal.finish();
  // With the normal hog gone, the idle one runs.
  long after = idle.turns.load();
  CHECK(test::wait_until([&] { return idle.turns.load() > after + 1000; }));
  idle.finish();
  CAPTURE(idle_gained);
  CHECK(idle_gained < normal.turns.load() / 100);
}

TEST_CASE("priority inheritance: low holds a mutex, medium hogs, high waits, and high still gets it") {
  test::watchdog wd(60s, "priority inversion");
  // No throttling: without inheritance, high would wait for ever.
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = 1ms, .rt_runtime = 0us});
  jiffy::mutex mu;
  std::atomic<bool> low_holds{false}, release{false}, high_done{false}, stop_medium{false};
  auto low = rt.spawn({.policy = sched_policy::fifo, .priority = 10}, [&] {
    std::lock_guard<jiffy::mutex> lk(mu);
    low_holds = true;
    while (!release.load(std::memory_order_relaxed)) {
    }  // computes while holding the lock; released once high waits
  });
  REQUIRE(test::wait_until([&] { return low_holds.load(); }));
  auto medium = rt.spawn({.policy = sched_policy::fifo, .priority = 20}, [&] {
    while (!stop_medium.load(std::memory_order_relaxed)) {
    }
  });
  auto high = rt.spawn({.policy = sched_policy::fifo, .priority = 30}, [&] {
    std::lock_guard<jiffy::mutex> lk(mu);
    high_done = true;
  });
  // high is parked on the mutex, so low is boosted above medium: it runs
  // and, once told to, releases the mutex.
  CHECK(test::wait_until([&] { return rt.stats().pi_boosts >= 1; }, 10s));
  release = true;
  bool done = test::wait_until([&] { return high_done.load(); }, 10s);
  stop_medium = true;
  CHECK(done);
  low.join();
  medium.join();
  high.join();
}

TEST_CASE("real-time throttling lets a normal fiber run beside a runaway fifo loop") {
  test::watchdog wd(60s, "rt throttling");
  jiffy::runtime rt(
      {.workers = 1, .preempt = preempt_mode::full, .quantum = 1ms, .rt_runtime = 50ms, .rt_period = 100ms});
  hog runaway;
  runaway.start(rt, {.policy = sched_policy::fifo, .priority = 50});
  REQUIRE(test::wait_until([&] { return runaway.turns.load() > 0; }));
  std::atomic<int> normal_runs{0};
  auto n = rt.spawn([&] {
    for (int i = 0; i < 5; ++i) {
      normal_runs.fetch_add(1);
      jiffy::this_fiber::sleep_for(1ms);
    }
  });
  CHECK(test::wait_until([&] { return normal_runs.load() == 5; }, 10s));
  runaway.finish();
  n.join();
  CHECK(rt.stats().rt_throttled >= 1);
}

TEST_CASE("set_preempt_mode from none to full un-starves a sleeper") {
  test::watchdog wd(60s, "set_preempt_mode");
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::none, .quantum = 1ms});
  std::atomic<int> wakes{0};
  std::atomic<bool> stop{false};
  auto sleeper = rt.spawn([&] {
    while (!stop.load()) {
      jiffy::this_fiber::sleep_for(2ms);
      wakes.fetch_add(1);
    }
  });
  REQUIRE(test::wait_until([&] { return wakes.load() > 0; }));
  hog h;
  h.start(rt);
  REQUIRE(test::wait_until([&] { return h.turns.load() > 0; }));
  std::this_thread::sleep_for(50ms);
  int starved = wakes.load();
  std::this_thread::sleep_for(200ms);
  CHECK(wakes.load() <= starved + 1);  // under none the hog never lets it run
  rt.set_preempt_mode(preempt_mode::full);
  CHECK(rt.options().preempt == preempt_mode::full);
  CHECK(test::wait_until([&] { return wakes.load() > starved + 20; }, 10s));
  stop = true;
  h.finish();
  sleeper.join();
}

TEST_CASE("the tickless monitor sends no signal and rarely wakes while nothing can be preempted") {
  test::watchdog wd(60s, "tickless monitor");
  jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = 1ms});
  hog h;
  h.start(rt);  // alone on its worker: nothing to preempt it for
  REQUIRE(test::wait_until([&] { return h.turns.load() > 0; }));
  auto before = rt.stats();
  std::this_thread::sleep_for(1s);
  auto after = rt.stats();
  h.finish();
  CHECK(after.signals_sent == before.signals_sent);
  // A monitor ticking every quarter quantum would wake ~4,000 times here.
  CAPTURE(after.monitor_wakeups - before.monitor_wakeups);
  CHECK(after.monitor_wakeups - before.monitor_wakeups < 400);
}

TEST_CASE("the monitor's timer lead follows its measured wake-up lateness, within bounds, and decays") {
  using lead_t = jiffy::detail::timer_lead;
  lead_t lead;
  CHECK(lead.ns() == lead_t::min_ns);       // nothing measured yet
  lead.observe(1000000, 1000000 + 100000);  // woke 100 us late
  CHECK(lead.ns() == 100000 + lead_t::margin_ns);
  lead.observe(2000000, 2000000 + 20000);  // a smaller lateness does not lower it at once
  CHECK(lead.ns() > 90000);
  lead.observe(3000000, 3000000 - 500000);  // woken early (a nudge): not a timeout, ignored
  CHECK(lead.ns() > 90000);
  for (int i = 0; i < 100; ++i) lead.observe(4000000, 4000000);  // on time from now on: back to the minimum
  CHECK(lead.ns() == lead_t::min_ns);
  lead.observe(5000000, 5000000 + 50000000);  // a host stall of 50 ms: capped
  CHECK(lead.ns() == lead_t::max_ns);
}

TEST_CASE("the monitor's slice-end lead converges on how late slices end, steps in eighths, and stays in bounds") {
  using jiffy::detail::learn_slice_end_lead;
  constexpr std::int64_t cap = jiffy::detail::max_slice_end_lead_ns;
  jiffy::detail::monitor_view m;
  CHECK(m.end_lead == 0);
  // Slices that end 80 us late whatever they were asked: the lead each
  // slice ends earlier by closes on 80 us, an eighth of the rest per slice.
  for (int i = 0; i < 100; ++i) learn_slice_end_lead(m, 80000 - m.end_lead);
  CHECK(m.end_lead > 79000);
  CHECK(m.end_lead <= 80000);
  // One slice held back 20 ms (a preempt_disable section, a descheduled
  // thread) moves it by one clamped step, not to the cap.
  std::int64_t before = m.end_lead;
  learn_slice_end_lead(m, 20000000);
  CHECK(m.end_lead == before + cap / 8);
  // Slices ending early (on time, with the lead too long) bring it down,
  // never below zero.
  for (int i = 0; i < 200; ++i) learn_slice_end_lead(m, -m.end_lead - 1000);
  CHECK(m.end_lead == 0);
  // Always late by more than the cap: the cap.
  for (int i = 0; i < 200; ++i) learn_slice_end_lead(m, 10000000);
  CHECK(m.end_lead == cap);
}

TEST_CASE("this_fiber::set_scheduler and set_nice change the class, and refuse bad values changing nothing") {
  jiffy::runtime rt({.workers = 1});
  rt.block_on([] {
    CHECK(jiffy::this_fiber::get_scheduler() == sched_policy::normal);
    CHECK(!jiffy::this_fiber::set_nice(7));
    CHECK(jiffy::this_fiber::get_nice() == 7);
    CHECK(!jiffy::this_fiber::set_scheduler(sched_policy::rr, 42));
    CHECK(jiffy::this_fiber::get_scheduler() == sched_policy::rr);
    CHECK(jiffy::this_fiber::get_priority() == 42);
    auto invalid = std::make_error_code(std::errc::invalid_argument);
    CHECK(jiffy::this_fiber::set_scheduler(sched_policy::fifo, 0) == invalid);
    CHECK(jiffy::this_fiber::set_scheduler(sched_policy::fifo, 100) == invalid);
    CHECK(jiffy::this_fiber::set_scheduler(sched_policy::normal, 5) == invalid);
    CHECK(jiffy::this_fiber::set_scheduler(static_cast<sched_policy>(9)) == invalid);
    CHECK(jiffy::this_fiber::set_nice(3) == invalid);  // rr has no nice value
    CHECK(jiffy::this_fiber::get_scheduler() == sched_policy::rr);
    CHECK(jiffy::this_fiber::get_priority() == 42);
    CHECK(!jiffy::this_fiber::set_scheduler(sched_policy::batch));
    CHECK(jiffy::this_fiber::set_nice(20) == invalid);
    CHECK(jiffy::this_fiber::set_nice(-21) == invalid);
    CHECK(!jiffy::this_fiber::set_nice(-20));
    CHECK(jiffy::this_fiber::get_nice() == -20);
  });
  CHECK(jiffy::this_fiber::set_scheduler(sched_policy::fifo, 10) ==
        std::make_error_code(std::errc::operation_not_permitted));
  CHECK(jiffy::this_fiber::set_nice(1) == std::make_error_code(std::errc::operation_not_permitted));
}

TEST_CASE("spawning with bad fiber_options stops with a message naming the field and the value") {
  struct bad {
    jiffy::fiber_options o;
    const char* message;
  };
  const bad cases[] = {
      {{.policy = sched_policy::fifo},
       "fiber_options::priority must be 1-99 for fifo and rr (got 0 with policy SCHED_FIFO)"},
      {{.policy = sched_policy::rr, .priority = 100}, "fiber_options::priority must be 1-99 for fifo and rr (got 100"},
      {{.priority = 3}, "fiber_options::priority must be 0 unless the policy is fifo or rr (got 3"},
      {{.nice = 20}, "fiber_options::nice must be -20..19 (got 20"},
      {{.policy = sched_policy::idle, .nice = -1},
       "fiber_options::nice must be 0 unless the policy is normal or batch (got -1"},
      {{.policy = static_cast<sched_policy>(7)}, "fiber_options::policy is not a jiffy::sched_policy (got 7)"},
  };
  for (const bad& b : cases) {
    CAPTURE(b.message);
    auto r = test::run_in_child([&] {
      jiffy::runtime rt({.workers = 1});
      rt.spawn(b.o, [] {}).join();
    });
    CHECK(r.signal == SIGABRT);
    CHECK(r.err.find(b.message) != std::string::npos);
    CHECK(r.err.find("runtime::spawn()") != std::string::npos);
  }
  auto r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.set_preempt_mode(static_cast<preempt_mode>(9));
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("preempt_mode value 9 is not a preempt_mode") != std::string::npos);
  r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1});
    rt.block_on([] { (void)jiffy::spawn_pinned(3, {.policy = sched_policy::rr, .priority = 1}, [] {}); });
  });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("jiffy::spawn_pinned(): worker 3 does not exist (the runtime has 1)") != std::string::npos);
}

namespace {

// How many of this process's threads run SCHED_FIFO.
int threads_under_sched_fifo() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.' && ::sched_getscheduler(std::atoi(e->d_name)) == SCHED_FIFO) ++n;
  ::closedir(d);
  return n;
}

// Takes CAP_SYS_NICE out of this process's effective set and sets
// RLIMIT_RTPRIO to 0: SCHED_FIFO is then refused even to root.
void forbid_realtime_threads() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  REQUIRE(::syscall(SYS_capget, &header, data) == 0);
  data[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
  REQUIRE(::syscall(SYS_capset, &header, data) == 0);
  rlimit none{0, 0};
  REQUIRE(::setrlimit(RLIMIT_RTPRIO, &none) == 0);
}

}  // namespace

TEST_CASE("monitor_priority runs the monitor SCHED_FIFO where permitted, and says so where it is refused") {
  // Permitted or not here, the runtime reports the priority in force, and
  // that many threads run SCHED_FIFO (the monitor, or none).
  auto r = test::run_in_child([] {
    jiffy::runtime rt({.workers = 1, .monitor_priority = 10});
    int in_force = rt.options().monitor_priority;
    bool consistent = threads_under_sched_fifo() == (in_force == 10 ? 1 : 0);
    std::_Exit(consistent && (in_force == 10 || in_force == 0) ? in_force : 100);
  });
  REQUIRE(r.exited);
  CHECK((r.exit_code == 10 || r.exit_code == 0));
  if (r.exit_code == 0) CHECK(r.err.find("monitor_priority 10 refused") != std::string::npos);
  // Refused: the runtime still starts, with an ordinary monitor, and says why.
  r = test::run_in_child([] {
    forbid_realtime_threads();
    jiffy::runtime rt({.workers = 1, .monitor_priority = 10});
    rt.block_on([] {});
    std::_Exit(rt.options().monitor_priority == 0 && threads_under_sched_fifo() == 0 ? 0 : 1);
  });
  CHECK(r.exited);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("jiffy: runtime_options::monitor_priority 10 refused (not permitted: needs CAP_SYS_NICE or "
                   "RLIMIT_RTPRIO): the monitor runs as an ordinary thread") != std::string::npos);
  // Out of range: stops before anything starts, naming the value.
  r = test::run_in_child([] { jiffy::runtime rt({.workers = 1, .monitor_priority = 100}); });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("runtime_options::monitor_priority must be 0 (an ordinary thread) or 1-99 (SCHED_FIFO), got 100") !=
        std::string::npos);
}
