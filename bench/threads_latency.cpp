// bench/threads_latency.cpp — preempt_latency's workload on OS threads: the
// kernel's scheduler as the reference.
//
// Usage: taskset -c 0 threads_latency [--seconds S] [--wakeups N] [--hogs N]
//                                     [--sleep-us N] [--label TEXT] [--csv | --json]
//
// `--hogs` (default 3) std::threads spin on a relaxed atomic add until told to
// stop; one std::thread loops: t0 = now(); clock_nanosleep(CLOCK_MONOTONIC,
// relative, 2 ms); lateness = now() - t0 - 2 ms. The run ends after
// `--wakeups` (default 1000) wake-ups or `--seconds` (default 3).
//
// Run it pinned to one CPU (bench/latency.sh uses `taskset -c 0`), so that the
// hogs and the sleeper compete for one core as jiffy's fibers do for one
// worker; the program says how many CPUs it may use. Output formats: see
// bench/latency_common.hpp.

#include "latency_common.hpp"
#include "support/pinning.hpp"

#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* kHelp =
    "preempt_latency's workload on OS threads (see the comment atop bench/threads_latency.cpp);\n"
    "run it under `taskset -c 0`.\n\n";

bench::workload_options parse_args(int argc, char** argv) {
  bench::workload_options o;
  o.label = "OS threads";
  bench::cli::args args(argc, argv, bench::kWorkloadSynopsis, std::string(kHelp) + bench::kWorkloadHelp);
  while (args.next())
    if (!bench::parse_workload_option(args, o)) args.unknown();
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::workload_options o = parse_args(argc, argv);
  const int hogs = o.hogs;
  const long wakeups = o.wakeups, sleep_us = o.sleep_us;
  const int ncpus = static_cast<int>(bench::allowed_cpus().size());

  std::atomic<bool> stop{false};
  std::unique_ptr<bench::hog_counter[]> work(new bench::hog_counter[static_cast<std::size_t>(hogs)]);
  std::vector<std::int64_t> lateness;
  lateness.reserve(static_cast<std::size_t>(wakeups) + 1);
  std::mutex mu;
  std::condition_variable cv;
  bool sleeper_done = false;

  const clock_type::time_point started = clock_type::now();
  std::thread sleeper([&] {
    const std::int64_t sleep_ns = std::int64_t{sleep_us} * 1000;
    const timespec ts{static_cast<time_t>(sleep_ns / 1000000000), static_cast<long>(sleep_ns % 1000000000)};
    while (lateness.size() < static_cast<std::size_t>(wakeups)) {
      clock_type::time_point t0 = clock_type::now();
      timespec left = ts;
      while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR) {
      }
      clock_type::time_point t1 = clock_type::now();
      lateness.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count() - sleep_ns);
      if (stop.load(std::memory_order_relaxed)) break;
    }
    std::lock_guard<std::mutex> lk(mu);
    sleeper_done = true;
    cv.notify_one();
  });
  std::vector<std::thread> hog_threads;
  for (int i = 0; i < hogs; ++i)
    hog_threads.emplace_back([&stop, &work, i] {
      while (!stop.load(std::memory_order_relaxed)) work[i].n.fetch_add(1, std::memory_order_relaxed);
    });
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::duration<double>(o.seconds), [&] { return sleeper_done; });
  }
  const clock_type::time_point ended = clock_type::now();
  std::uint64_t work_total = 0;
  for (int i = 0; i < hogs; ++i) work_total += work[i].n.load(std::memory_order_relaxed);
  stop.store(true, std::memory_order_relaxed);
  sleeper.join();
  for (std::thread& t : hog_threads) t.join();

  const double secs = std::chrono::duration<double>(ended - started).count();
  char text[512], csv[128], json[256];
  std::snprintf(text, sizeof text,
                "  threads:   %d hogs + 1 sleeper (clock_nanosleep %ld us), %d CPU(s) allowed%s, ran %.2f s\n"
                "  hogs:      %.3g iterations/s in total\n",
                hogs, sleep_us, ncpus, ncpus == 1 ? "" : " (run it under `taskset -c 0`)", secs,
                static_cast<double>(work_total) / secs);
  std::snprintf(csv, sizeof csv, "cpus=%d", ncpus);
  std::snprintf(json, sizeof json, "\"cpus\": %d, \"seconds\": %.3f, \"hog_iterations_per_s\": %.0f", ncpus, secs,
                static_cast<double>(work_total) / secs);
  bench::print_summary(o.format, o.label, bench::summarise_ns_as_us(lateness), text, csv, json);
  return 0;
}
