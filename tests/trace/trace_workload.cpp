// tests/trace/trace_workload.cpp — a program for check_trace.py: runs a
// workload that exercises every kind of trace record (fibers that spawn,
// yield, lock, sleep, a fifo fiber that preempts hogs, hogs calling into
// libc where signals are deferred), lets the built-in recorder write its
// file (--out PATH, or the environment's JIFFY_TRACE), and prints the
// runtime's final stats as JSON on stdout for the checker to compare.
//
// Usage: trace_workload [--out PATH] [--buffer EVENTS] [--workers N]
#include <jiffy/jiffy.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

using namespace std::chrono_literals;

namespace {

[[noreturn]] void usage(const char* bad) {
  std::fprintf(
      stderr, "trace_workload: bad argument '%s'\nusage: trace_workload [--out PATH] [--buffer EVENTS] [--workers N]\n",
      bad);
  std::exit(2);
}

void workload(jiffy::runtime& rt) {
  std::atomic<bool> stop{false};
  jiffy::mutex mu;
  long shared = 0;
  // Hogs: one in plain arithmetic, one calling into libc (deferred signals).
  auto spin = rt.spawn({.name = "hog-spin"}, [&] {
    volatile unsigned x = 0;
    while (!stop.load(std::memory_order_relaxed)) x = x + 1;
  });
  auto clock = rt.spawn({.name = "hog-clock"}, [&] {
    while (!stop.load(std::memory_order_relaxed)) (void)std::chrono::steady_clock::now();
  });
  rt.block_on([&] {
    auto audio = jiffy::spawn({.policy = jiffy::sched_policy::fifo, .priority = 50, .name = "audio"}, [&] {
      for (int i = 0; i < 25; ++i) jiffy::this_fiber::sleep_for(2ms);
    });
    jiffy::wait_group wg(20);
    for (int i = 0; i < 20; ++i)
      jiffy::spawn({.name = "job"}, [&] {
        for (int k = 0; k < 4; ++k) {
          std::lock_guard<jiffy::mutex> lk(mu);
          ++shared;
          jiffy::this_fiber::yield();
        }
        wg.done();
      }).detach();
    wg.wait();
    audio.join();
  });
  stop = true;
  spin.join();
  clock.join();
  if (shared != 80) {
    std::fprintf(stderr, "trace_workload: lost updates (%ld of 80)\n", shared);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  jiffy::runtime_options o{.workers = 1, .preempt = jiffy::preempt_mode::full};
  for (int i = 1; i < argc; ++i) {
    if (i + 1 >= argc) usage(argv[i]);
    if (std::strcmp(argv[i], "--out") == 0)
      o.trace_file = argv[++i];
    else if (std::strcmp(argv[i], "--buffer") == 0)
      o.trace_buffer_events = std::strtoull(argv[++i], nullptr, 10);
    else if (std::strcmp(argv[i], "--workers") == 0)
      o.workers = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else
      usage(argv[i]);
  }
  jiffy::runtime_stats s;
  long long snapshot_ns = 0;
  {
    jiffy::runtime rt(o);
    workload(rt);
    // Quiescent: every fiber has finished (block_on's own may be on its way out).
    while (rt.stats().fibers_spawned != rt.stats().fibers_finished) std::this_thread::sleep_for(100us);
    // Idle workers may still go to sleep after this snapshot (and the file
    // holds those sleeps), so the snapshot's time goes out with the stats.
    snapshot_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    s = rt.stats();
  }  // the recorder writes its file here
  std::printf(
      "{\"workers\":%u,\"fibers_spawned\":%llu,\"fibers_finished\":%llu,\"yields\":%llu,\"parks\":%llu,"
      "\"preemptions\":%llu,\"voluntary_reschedules\":%llu,\"deferred_preemptions\":%llu,\"worker_sleeps\":%llu,"
      "\"snapshot_ns\":%lld}\n",
      o.workers, static_cast<unsigned long long>(s.fibers_spawned), static_cast<unsigned long long>(s.fibers_finished),
      static_cast<unsigned long long>(s.yields), static_cast<unsigned long long>(s.parks),
      static_cast<unsigned long long>(s.preemptions), static_cast<unsigned long long>(s.voluntary_reschedules),
      static_cast<unsigned long long>(s.deferred_preemptions), static_cast<unsigned long long>(s.worker_sleeps),
      snapshot_ns);
}
