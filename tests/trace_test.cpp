// Trace hooks (runtime_options::trace) and the built-in recorder's switch
// (runtime_options::trace_file): the events, their order, their reasons,
// and that they agree with runtime::stats(). The recorder's file itself is
// checked by tests/trace/check_trace.py.
#include "support.hpp"

#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using jiffy::preempt_mode;
using jiffy::sched_policy;
using jiffy::switch_reason;
using jiffy::trace_event;

namespace {

// Every event, in one global order. Hooks may run on any worker and inside
// the preemption signal handler, so appending is one atomic claim and a
// copy: no lock, no allocation. Read only after the runtime is gone.
struct event_log {
  enum kind : char {
    spawn = 'S',
    in = 'I',
    out = 'O',
    wake = 'W',
    finish = 'F',
    sleep = 'Z',
    awake = 'A',
    deferred = 'D',
    wakeup = 'P'
  };
  struct entry {
    kind k;
    trace_event e;
    char name[16];
  };
  static constexpr std::size_t capacity = 1 << 17;
  std::vector<entry> entries = std::vector<entry>(capacity);
  std::atomic<std::size_t> n{0};
  // Events of each kind so far, readable while the runtime runs. Some go on
  // after a stats() snapshot taken at quiescence — idle workers sleep, and
  // a finishing fiber, still on its CPU, may take a preemption signal that
  // is deferred — so a test compares with what was logged before it. Each
  // stats counter is bumped before its hook, and the release increment here
  // carries that bump to whoever reads the count with acquire (so_far):
  // events counted before a snapshot are in it.
  std::atomic<std::size_t> by_kind[128] = {};
  std::size_t so_far(kind k) const noexcept { return by_kind[k].load(std::memory_order_acquire); }

  void add(kind k, const trace_event& e) noexcept {
    std::size_t i = n.fetch_add(1, std::memory_order_relaxed);
    if (i >= capacity) return;
    entry& x = entries[i];
    x.k = k;
    x.e = e;
    x.e.fiber.name = nullptr;  // valid only during the call: copied below
    std::snprintf(x.name, sizeof x.name, "%s", e.fiber.name ? e.fiber.name : "");
    by_kind[k].fetch_add(1, std::memory_order_release);
  }
  std::size_t size() const noexcept { return std::min(n.load(), capacity); }
  std::size_t count(kind k) const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < size(); ++i) c += entries[i].k == k;
    return c;
  }
  std::size_t count_out(switch_reason r) const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < size(); ++i) c += entries[i].k == out && entries[i].e.reason == r;
    return c;
  }

  jiffy::trace_hooks hooks() {
    jiffy::trace_hooks h;
    h.context = this;
    h.on_spawn = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(spawn, e); };
    h.on_switch_in = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(in, e); };
    h.on_switch_out = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(out, e); };
    h.on_wake = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(wake, e); };
    h.on_finish = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(finish, e); };
    h.on_worker_sleep = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(sleep, e); };
    h.on_worker_wake = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(awake, e); };
    h.on_preempt_deferred = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(deferred, e); };
    h.on_wakeup_preempt = [](void* c, const trace_event& e) { static_cast<event_log*>(c)->add(wakeup, e); };
    return h;
  }
};

// A mix of everything that switches: yields, a contended mutex, sleeps,
// joins and a wait_group, from fibers that spawn fibers.
void mixed_workload(jiffy::runtime& rt, int fibers) {
  jiffy::mutex mu;
  long shared = 0;
  rt.block_on([&] {
    jiffy::wait_group wg(fibers);
    for (int i = 0; i < fibers; ++i)
      jiffy::spawn({.name = "mixer"}, [&, i] {
        for (int k = 0; k < 5; ++k) {
          {
            std::lock_guard<jiffy::mutex> lk(mu);
            ++shared;
            jiffy::this_fiber::yield();  // inside the lock: others park on it
          }
          if (k == 2) jiffy::this_fiber::sleep_for(std::chrono::microseconds(100 + i));
        }
        jiffy::spawn([] { jiffy::this_fiber::yield(); }).join();
        wg.done();
      }).detach();
    wg.wait();
  });
  CHECK(shared == 5L * fibers);
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("trace hooks fire in the documented order and agree with stats()", W, trace_order) {
  test::watchdog wd(120s, "trace order");
  event_log log;
  jiffy::runtime_stats stats;
  std::size_t sleeps_before_snapshot = 0;
  {
    jiffy::runtime rt({.workers = W::count, .preempt = preempt_mode::none, .trace = log.hooks()});
    mixed_workload(rt, test::scale(40));
    // Quiescent first: block_on's own fiber may still be on its way out.
    REQUIRE(test::wait_until([&] { return rt.stats().fibers_spawned == rt.stats().fibers_finished; }));
    sleeps_before_snapshot = log.so_far(event_log::sleep);
    stats = rt.stats();
  }
  REQUIRE(log.n.load() < event_log::capacity);
  // Per worker: a fiber switched in is the one that switches out next, and
  // its on_finish comes right before its switch out with reason finished;
  // sleep and wake alternate.
  std::map<int, std::uint64_t> running;  // worker -> fiber (0: none)
  std::map<int, bool> asleep;
  std::map<std::uint64_t, std::size_t> spawned_at, woken_at, in_count;
  std::map<std::uint64_t, bool> parked, finished;
  std::size_t order_errors = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& x = log.entries[i];
    int w = x.e.worker;
    std::uint64_t id = x.e.fiber.id;
    switch (x.k) {
      case event_log::spawn: spawned_at.emplace(id, i); break;
      case event_log::wake:
        order_errors += !parked[id];  // only a fiber that parked is woken
        parked[id] = false;
        woken_at[id] = i;
        break;
      case event_log::in:
        order_errors += running[w] != 0;
        order_errors += !spawned_at.count(id) || spawned_at[id] > i;  // spawned before it first runs
        order_errors += parked[id];                                   // a parked fiber runs only once woken
        running[w] = id;
        ++in_count[id];
        break;
      case event_log::finish:
        order_errors += running[w] != id;
        finished[id] = true;
        break;
      case event_log::out:
        order_errors += running[w] != id;
        order_errors += (x.e.reason == switch_reason::finished) != finished[id];
        if (x.e.reason == switch_reason::park) parked[id] = true;
        running[w] = 0;
        break;
      case event_log::sleep:
        order_errors += asleep[w] || running[w] != 0;
        asleep[w] = true;
        break;
      case event_log::awake:
        order_errors += !asleep[w];
        asleep[w] = false;
        break;
      default: break;
    }
  }
  CHECK(order_errors == 0);
  for (auto& [w, id] : running) CHECK(id == 0);  // everyone switched out in the end
  CHECK(log.count(event_log::spawn) == stats.fibers_spawned);
  CHECK(log.count(event_log::finish) == stats.fibers_finished);
  CHECK(log.count_out(switch_reason::finished) == stats.fibers_finished);
  CHECK(log.count_out(switch_reason::yield) == stats.yields);
  CHECK(log.count_out(switch_reason::park) == stats.parks);
  // Sleeps go on after the snapshot (idle workers until the runtime ends):
  // those logged before it are in it, and it holds no more than the log's.
  CHECK(sleeps_before_snapshot <= stats.worker_sleeps);
  CHECK(stats.worker_sleeps <= log.count(event_log::sleep));
  CHECK(log.count(event_log::wake) > 0);
  CHECK(log.count_out(switch_reason::preempted) == 0);  // preempt_mode::none
  // Names reach the hooks; every event of a worker names that worker.
  std::size_t named = 0, bad_worker = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& x = log.entries[i];
    named += x.k == event_log::in && std::strcmp(x.name, "mixer") == 0;
    bad_worker += x.k != event_log::spawn && x.k != event_log::wake &&
                  (x.e.worker < 0 || x.e.worker > static_cast<int>(W::count));
  }
  CHECK(named >= static_cast<std::size_t>(test::scale(40)));
  CHECK(bad_worker == 0);
}
TEST_CASE_TEMPLATE_APPLY(trace_order, test::one_to_eight_workers);

TEST_CASE("switch-out reasons of preempted fibers and deferred signals agree with stats()") {
  test::watchdog wd(120s, "trace preemption reasons");
  event_log log;
  jiffy::runtime_stats stats;
  std::size_t deferred_before_snapshot = 0;
  {
    jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = 1ms, .trace = log.hooks()});
    std::atomic<bool> stop{false};
    auto hog = [&] {
      while (!stop.load(std::memory_order_relaxed)) {
        // Half the time in libc (an unsafe point: deferred), half in our code.
        auto t = std::chrono::steady_clock::now();
        (void)t;
      }
    };
    auto a = rt.spawn({.name = "hog-a"}, hog);
    auto b = rt.spawn({.name = "hog-b"}, hog);
    REQUIRE(test::wait_until([&] { return rt.stats().preemptions >= 5; }, 60s));
    stop = true;
    a.join();
    b.join();
    deferred_before_snapshot = log.so_far(event_log::deferred);
    stats = rt.stats();
  }
  std::size_t involuntary = log.count_out(switch_reason::preempted) + log.count_out(switch_reason::rescheduled) +
                            log.count_out(switch_reason::wakeup_preempted);
  CHECK(stats.preemptions >= 5);
  CHECK(involuntary == stats.preemptions + stats.voluntary_reschedules);
  // A joined fiber is still finishing on its CPU (in the runtime section: a
  // signal then is deferred, never a preemption) after the snapshot.
  CHECK(deferred_before_snapshot <= stats.deferred_preemptions);
  CHECK(stats.deferred_preemptions <= log.count(event_log::deferred));
}

TEST_CASE("a fifo fiber woken by its timer makes the hog's switch-out read wakeup_preempted") {
  test::watchdog wd(120s, "trace wake-up preemption");
  event_log log;
  std::uint64_t audio_id = 0;
  {
    jiffy::runtime rt({.workers = 1, .preempt = preempt_mode::full, .quantum = 100ms, .trace = log.hooks()});
    std::atomic<bool> stop{false};
    auto hog = rt.spawn([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
    rt.spawn({.policy = sched_policy::fifo, .priority = 50, .name = "audio"}, [&] {
        audio_id = jiffy::this_fiber::id();
        for (int i = 0; i < 20; ++i) jiffy::this_fiber::sleep_for(2ms);
        stop = true;
      }).join();
    hog.join();
  }
  std::size_t wakeups_for_audio = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& x = log.entries[i];
    if (x.k == event_log::wakeup && x.e.fiber.id == audio_id) {
      ++wakeups_for_audio;
      CHECK(x.e.other == 0);  // the one worker
      CHECK(x.e.fiber.policy == sched_policy::fifo);
      CHECK(x.e.fiber.priority == 50);
    }
  }
  // With a 100 ms quantum the hog leaves only for the audio fiber.
  CHECK(wakeups_for_audio >= 10);
  CHECK(log.count_out(switch_reason::wakeup_preempted) >= 10);
}

TEST_CASE("each recording runtime writes its own file: the first the path given, later ones numbered") {
  test::watchdog wd(120s, "trace file");
  std::string stem = "trace_test_" + std::to_string(::getpid());
  std::string path = stem + ".json";
  for (unsigned workers : {1u, 2u}) {
    jiffy::runtime rt({.workers = workers, .trace_file = path.c_str()});
    mixed_workload(rt, 8);
  }
  // Earlier runtimes of this process may have recorded too: the two files
  // are the last two of path, <stem>.2.json, <stem>.3.json...
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator("."))
    if (std::string name = entry.path().filename().string(); name.rfind(stem, 0) == 0) files.push_back(name);
  CHECK(files.size() == 2);
  for (const std::string& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    std::filesystem::remove(f);
    CAPTURE(f);
    CHECK(s.rfind("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", 0) == 0);
    CHECK(s.find("\"name\":\"mixer\",\"ph\":\"X\"") != std::string::npos);
    CHECK(s.find("\"dropped_records\":0}") != std::string::npos);
  }
}

TEST_CASE("a trace file that cannot be written is reported by path, and the program goes on") {
  auto r = test::run_in_child([] {
    { jiffy::runtime rt({.workers = 1, .trace_file = "/nonexistent-jiffy-dir/t.json"}); }
    std::fprintf(stderr, "went on\n");
  });
  CHECK(r.exited);
  CHECK(r.exit_code == 0);
  // (t.json, or t.<n>.json if this process recorded before the fork)
  CHECK(r.err.find("jiffy: cannot write the trace file '/nonexistent-jiffy-dir/t.") != std::string::npos);
  CHECK(r.err.find("json': No such file or directory") != std::string::npos);
  CHECK(r.err.find("went on") != std::string::npos);
}

TEST_CASE("trace_buffer_events of 0 is refused by name and value") {
  auto r = test::run_in_child(
      [] { jiffy::runtime rt({.workers = 1, .trace_file = "unused.json", .trace_buffer_events = 0}); });
  CHECK(r.signal == SIGABRT);
  CHECK(r.err.find("runtime_options::trace_buffer_events must be 1 to 67108864 (got 0)") != std::string::npos);
}
