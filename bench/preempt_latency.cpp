// bench/preempt_latency.cpp — how late a sleeping fiber wakes up when the
// worker it sleeps on is kept busy by fibers that never yield.
//
// Usage: preempt_latency [--mode none|voluntary|full] [--quantum-us N]
//                        [--seconds S] [--wakeups N] [--hogs N] [--sleep-us N]
//                        [--hog-work add|clock] [--cond-resched]
//                        [--policy normal|batch|fifo|rr] [--priority N]
//                        [--monitor-priority N]
//                        [--label TEXT] [--csv | --json] [--samples FILE]
//                        [--diagnose]
//
// The workload (the preemption issue's audio-callback scenario):
//  * a runtime with ONE worker, preemption `--mode` (default full) and
//    quantum `--quantum-us` (default 1000);
//  * `--hogs` (default 3) fibers that never yield: each loop iteration is a
//    relaxed atomic add on the hog's own counter (a real side effect the
//    compiler cannot drop) and a relaxed load of the stop flag. With
//    --cond-resched they also call jiffy::cond_resched() every iteration
//    (the kernel's explicit preemption point: what `voluntary` relies on).
//    With --hog-work clock each iteration also calls
//    std::chrono::steady_clock::now(): libc's clock_gettime, which is not an
//    async-safe point (a preemption signal landing there is deferred, see
//    include/jiffy/detail/safe_points.hpp), and the vDSO, which is;
//  * one "sleeper" fiber that loops: t0 = now(); sleep_for(2 ms); lateness
//    = now() - t0 - 2 ms. It spawns the hogs itself before its first sleep,
//    so under `none` it is certain to have started (and then starves).
// The run ends after `--wakeups` (default 1000) wake-ups or `--seconds`
// (default 3), whichever comes first: the main thread waits on a
// wait_group for the sleeper, then raises the stop flag. Under `none` (and
// `voluntary` without --cond-resched) the sleeper's first sleep only ends
// when the hogs stop, so there is a single sample of about `--seconds`.
//
// Printed: wake-ups, p50/p99/max/mean lateness (nearest-rank), the
// runtime's preemption counters (preemptions, voluntary reschedules,
// deferred preemptions, signals sent) and the hogs' total iterations per
// second. --csv/--json print one record (see bench/latency_common.hpp) for
// bench/latency.sh. --samples writes every wake-up, in order, to FILE:
// "index start_us lateness_us", start measured from the runtime's start.
//
// --diagnose: to tell what made the worst wake-ups late, the sleeper also
// reads, around each sleep, the worker thread's CPU time and the run delay
// (time spent runnable but waiting for a CPU, /proc/<tid>/schedstat) of the
// worker and of the monitor thread, and the program lists the 10 latest
// wake-ups with: how long the worker thread was NOT executing during the
// sleep (wall - CPU time: run-queue wait, and on a VM with steal-time
// accounting the time the hypervisor took the vCPU away), the worker's and the monitor's run delay, and the
// preemption counters' change over that sleep. This costs the sleeper a few
// microseconds per iteration (not the hogs). Last column: the CPUs the
// worker and the monitor were on at the wake-up. Also printed: the CPU time
// the monitor thread used over the run.
//
// The target: p99 <= 1 quantum + 0.5 ms under `full`.

#include "latency_common.hpp"
#include "support/preempt_modes.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sched.h>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* kSynopsis =
    "[--mode none|voluntary|full] [--quantum-us N] [--seconds S] [--wakeups N] [--hogs N] [--sleep-us N]\n"
    "[--hog-work add|clock] [--cond-resched] [--policy P] [--priority N] [--monitor-priority N]\n"
    "[--label TEXT] [--csv | --json] [--samples FILE] [--diagnose]";

constexpr const char* kHelp =
    "How late a sleeping fiber wakes up among fibers that never yield, on one worker\n"
    "(see the comment atop bench/preempt_latency.cpp).\n\n"
    "  --mode M        preemption model: none, voluntary, full or lazy (default full)\n"
    "  --policy P      the sleeper's scheduling class: normal (default), batch, fifo, rr\n"
    "  --priority N    its priority, 1-99 for fifo and rr (default 50 for them)\n"
    "  --monitor-priority N  runtime_options::monitor_priority: 1-99 runs the monitor SCHED_FIFO (default 0)\n"
    "  --quantum-us N  the runtime's quantum in us (default 1000)\n"
    "  --hog-work W    add: a counter only (default); clock: also steady_clock::now()\n"
    "  --cond-resched  the hogs call jiffy::cond_resched() every iteration\n"
    "  --samples FILE  write every wake-up to FILE: index start_us lateness_us\n"
    "  --diagnose      list the latest wake-ups with the worker's and the monitor's scheduling\n";

struct options : bench::workload_options {
  jiffy::preempt_mode mode = jiffy::preempt_mode::full;
  long quantum_us = 1000;
  bool hog_clock = false;
  bool cond_resched = false;
  jiffy::sched_policy policy = jiffy::sched_policy::normal;
  int priority = 0;
  int monitor_priority = 0;
  bool diagnose = false;
  std::string samples_file;
};

// The options only this program has; false if the current one is not one.
bool parse_own_option(bench::cli::args& args, options& o) {
  if (args.is("--mode"))
    o.mode = bench::preempt_mode_named(args, args.text());
  else if (args.is("--quantum-us"))
    o.quantum_us = static_cast<long>(args.integer(1, 10000000));
  else if (args.is("--hog-work"))
    o.hog_clock = args.choice({"add", "clock"}) == 1;
  else if (args.is("--cond-resched"))
    o.cond_resched = true;
  else if (args.is("--policy")) {
    constexpr jiffy::sched_policy by_index[] = {jiffy::sched_policy::normal, jiffy::sched_policy::batch,
                                                jiffy::sched_policy::fifo, jiffy::sched_policy::rr};
    o.policy = by_index[args.choice({"normal", "batch", "fifo", "rr"})];
  } else if (args.is("--priority"))
    o.priority = static_cast<int>(args.integer(1, 99));
  else if (args.is("--monitor-priority"))
    o.monitor_priority = static_cast<int>(args.integer(0, 99));
  else if (args.is("--samples"))
    o.samples_file = args.text();
  else if (args.is("--diagnose"))
    o.diagnose = true;
  else
    return false;
  return true;
}

options parse(int argc, char** argv) {
  options o;
  bench::cli::args args(argc, argv, kSynopsis, std::string(kHelp) + bench::kWorkloadHelp);
  while (args.next())
    if (!parse_own_option(args, o) && !bench::parse_workload_option(args, o)) args.unknown();
  bool real_time = o.policy == jiffy::sched_policy::fifo || o.policy == jiffy::sched_policy::rr;
  if (real_time && o.priority == 0) o.priority = 50;
  if (!real_time && o.priority != 0) args.fail("--priority: only for --policy fifo or rr");
  if (o.label.empty()) {
    o.label = std::string("jiffy ") + bench::mode_name(o.mode) + (o.cond_resched ? "+cond_resched" : "") +
              (o.policy != jiffy::sched_policy::normal
                   ? std::string(" ") + (real_time ? (o.policy == jiffy::sched_policy::fifo ? "fifo" : "rr") : "batch")
                   : std::string()) +
              (o.hog_clock ? " (hogs call now())" : "") + " q=" + std::to_string(o.quantum_us) + "us" +
              (o.monitor_priority ? " monitor fifo " + std::to_string(o.monitor_priority) : "");
  }
  return o;
}

// The hog loop, one instantiation per variant so the plain one has nothing
// but the add and the flag test in it.
template <bool Clock, bool CondResched>
void hog(std::atomic<bool>& stop, bench::hog_counter& c) {
  while (!stop.load(std::memory_order_relaxed)) {
    if constexpr (Clock) {  // a call into the vDSO (the test keeps its result used)
      if (clock_type::now().time_since_epoch().count() == 0) c.n.fetch_add(1, std::memory_order_relaxed);
    }
    c.n.fetch_add(1, std::memory_order_relaxed);
    if constexpr (CondResched) jiffy::cond_resched();
  }
}

using hog_fn = void (*)(std::atomic<bool>&, bench::hog_counter&);

// --diagnose: per-thread scheduling figures.
// Field `field` (0: CPU time, 1: run delay) of /proc/<tid>/schedstat:
// "exec_ns run_delay_ns timeslices".
std::int64_t schedstat_ns(int fd, int field) {
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = buf;
  for (int i = 0; i < field && p; ++i) {
    p = std::strchr(p, ' ');
    if (p) ++p;
  }
  return p ? std::strtoll(p, nullptr, 10) : 0;
}
std::int64_t run_delay_ns(int fd) { return schedstat_ns(fd, 1); }

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int open_schedstat(pid_t tid) {
  std::string path = "/proc/self/task/" + std::to_string(tid) + "/schedstat";
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

// The runtime's monitor: the thread that is neither main nor the worker.
pid_t find_monitor_tid(pid_t worker_tid) {
  pid_t found = -1;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      pid_t tid = static_cast<pid_t>(std::atol(e->d_name));
      if (tid > 0 && tid != ::getpid() && tid != worker_tid) found = tid;
    }
    ::closedir(d);
  }
  return found;
}

// The CPU a thread last ran on: field 39 of /proc/<tid>/stat.
int last_cpu(int stat_fd) {
  if (stat_fd < 0) return -1;
  char buf[1024];
  ssize_t n = ::pread(stat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the command name may contain spaces
  if (!p) return -1;
  for (int field = 2; field < 39 && *p; ++p)
    if (*p == ' ') ++field;
  return std::atoi(p);
}

struct wake_diag {
  int worker_cpu = -1, monitor_cpu = -1;  // at wake-up
  std::int64_t not_running_ns = 0;        // worker: wall - CPU time over the sleep
  std::int64_t worker_delay_ns = 0;
  std::int64_t monitor_delay_ns = 0;
  std::uint64_t preemptions = 0, signals = 0, deferred = 0;
};

hog_fn pick_hog(const options& o) {
  if (o.hog_clock) return o.cond_resched ? &hog<true, true> : &hog<true, false>;
  return o.cond_resched ? &hog<false, true> : &hog<false, false>;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const auto sleep = std::chrono::microseconds(o.sleep_us);
  const hog_fn hog_body = pick_hog(o);

  std::atomic<bool> stop{false};
  std::unique_ptr<bench::hog_counter[]> work(new bench::hog_counter[static_cast<std::size_t>(o.hogs)]);
  std::vector<std::int64_t> lateness, sleep_start;
  lateness.reserve(static_cast<std::size_t>(o.wakeups) + 1);
  sleep_start.reserve(static_cast<std::size_t>(o.wakeups) + 1);
  std::vector<wake_diag> diag;
  std::int64_t monitor_cpu_ns = 0, diag_wall_ns = 0;  // over the sleeper's loop
  if (o.diagnose) diag.reserve(static_cast<std::size_t>(o.wakeups) + 1);
  jiffy::wait_group sleeper_done(1);
  clock_type::time_point started, ended;
  std::uint64_t work_total = 0;
  jiffy::runtime_stats stats;
  {
    jiffy::runtime rt({.workers = 1,
                       .preempt = o.mode,
                       .quantum = std::chrono::microseconds(o.quantum_us),
                       .monitor_priority = o.monitor_priority});
    started = clock_type::now();
    jiffy::fiber sleeper = rt.spawn({.policy = o.policy, .priority = o.priority}, [&] {
      int worker_fd = -1, monitor_fd = -1, monitor_stat_fd = -1;
      if (o.diagnose) {
        pid_t worker_tid = ::gettid();  // a fiber runs on its worker's thread
        pid_t monitor_tid = find_monitor_tid(worker_tid);
        worker_fd = open_schedstat(worker_tid);
        monitor_fd = open_schedstat(monitor_tid);
        monitor_stat_fd =
            ::open(("/proc/self/task/" + std::to_string(monitor_tid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
      }
      const clock_type::time_point loop_start = clock_type::now();
      monitor_cpu_ns = -schedstat_ns(monitor_fd, 0);
      std::vector<jiffy::fiber> hogs;
      hogs.reserve(static_cast<std::size_t>(o.hogs));
      for (int i = 0; i < o.hogs; ++i)
        hogs.push_back(jiffy::spawn([&stop, &work, hog_body, i] { hog_body(stop, work[i]); }));
      while (lateness.size() < static_cast<std::size_t>(o.wakeups)) {
        wake_diag d;
        jiffy::runtime_stats st0;
        if (o.diagnose) {
          d.not_running_ns = thread_cpu_ns();
          d.worker_delay_ns = -run_delay_ns(worker_fd);
          d.monitor_delay_ns = -run_delay_ns(monitor_fd);
          st0 = rt.stats();
        }
        clock_type::time_point t0 = clock_type::now();
        jiffy::this_fiber::sleep_for(sleep);
        clock_type::time_point t1 = clock_type::now();
        if (o.diagnose) {
          d.not_running_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count() - thread_cpu_ns();
          d.worker_delay_ns += run_delay_ns(worker_fd);
          d.monitor_delay_ns += run_delay_ns(monitor_fd);
          d.worker_cpu = sched_getcpu();
          d.monitor_cpu = last_cpu(monitor_stat_fd);
          jiffy::runtime_stats st1 = rt.stats();
          d.preemptions = st1.preemptions - st0.preemptions;
          d.signals = st1.signals_sent - st0.signals_sent;
          d.deferred = st1.deferred_preemptions - st0.deferred_preemptions;
          diag.push_back(d);
        }
        lateness.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0 - sleep).count());
        sleep_start.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t0 - started).count());
        if (stop.load(std::memory_order_relaxed)) break;
      }
      monitor_cpu_ns += schedstat_ns(monitor_fd, 0);
      diag_wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - loop_start).count();
      if (worker_fd >= 0) ::close(worker_fd);
      if (monitor_fd >= 0) ::close(monitor_fd);
      if (monitor_stat_fd >= 0) ::close(monitor_stat_fd);
      sleeper_done.done();
      stop.store(true, std::memory_order_relaxed);
      for (jiffy::fiber& h : hogs) h.join();
    });
    sleeper_done.wait_for(std::chrono::duration<double>(o.seconds));
    ended = clock_type::now();
    for (int i = 0; i < o.hogs; ++i) work_total += work[i].n.load(std::memory_order_relaxed);
    stop.store(true, std::memory_order_relaxed);
    sleeper.join();
    stats = rt.stats();
  }

  if (!o.samples_file.empty()) {
    if (std::FILE* f = std::fopen(o.samples_file.c_str(), "w")) {
      for (std::size_t i = 0; i < lateness.size(); ++i)
        std::fprintf(f, "%zu %.1f %.1f\n", i, static_cast<double>(sleep_start[i]) / 1000.0,
                     static_cast<double>(lateness[i]) / 1000.0);
      std::fclose(f);
    } else {
      std::perror(o.samples_file.c_str());
    }
  }
  const double secs = std::chrono::duration<double>(ended - started).count();
  const bench::latency_summary s = bench::summarise_ns_as_us(lateness);
  char text[1024], csv[512], json[512];
  std::snprintf(text, sizeof text,
                "  runtime:   mode %s, quantum %ld us, 1 worker, %d hogs%s%s, sleep %ld us, ran %.2f s\n"
                "  stats:     preemptions %llu   voluntary_reschedules %llu   deferred_preemptions %llu   "
                "signals_sent %llu   context_switches %llu\n"
                "  hogs:      %.3g iterations/s in total\n",
                bench::mode_name(o.mode), o.quantum_us, o.hogs, o.cond_resched ? " calling cond_resched()" : "",
                o.hog_clock ? " calling steady_clock::now()" : "", o.sleep_us, secs,
                static_cast<unsigned long long>(stats.preemptions),
                static_cast<unsigned long long>(stats.voluntary_reschedules),
                static_cast<unsigned long long>(stats.deferred_preemptions),
                static_cast<unsigned long long>(stats.signals_sent),
                static_cast<unsigned long long>(stats.context_switches), static_cast<double>(work_total) / secs);
  std::snprintf(csv, sizeof csv, "preemptions=%llu voluntary=%llu deferred=%llu signals_sent=%llu",
                static_cast<unsigned long long>(stats.preemptions),
                static_cast<unsigned long long>(stats.voluntary_reschedules),
                static_cast<unsigned long long>(stats.deferred_preemptions),
                static_cast<unsigned long long>(stats.signals_sent));
  std::snprintf(json, sizeof json,
                "\"mode\": \"%s\", \"quantum_us\": %ld, \"seconds\": %.3f, \"preemptions\": %llu, "
                "\"voluntary_reschedules\": %llu, \"deferred_preemptions\": %llu, \"signals_sent\": %llu, "
                "\"context_switches\": %llu, \"hog_iterations_per_s\": %.0f",
                bench::mode_name(o.mode), o.quantum_us, secs, static_cast<unsigned long long>(stats.preemptions),
                static_cast<unsigned long long>(stats.voluntary_reschedules),
                static_cast<unsigned long long>(stats.deferred_preemptions),
                static_cast<unsigned long long>(stats.signals_sent),
                static_cast<unsigned long long>(stats.context_switches), static_cast<double>(work_total) / secs);
  bench::print_summary(o.format, o.label, s, text, csv, json);

  if (o.diagnose && diag_wall_ns > 0)
    std::printf("  monitor:   used %.1f%% of a CPU (%.1f ms of CPU time in %.2f s)\n",
                100.0 * static_cast<double>(monitor_cpu_ns) / static_cast<double>(diag_wall_ns),
                static_cast<double>(monitor_cpu_ns) / 1e6, static_cast<double>(diag_wall_ns) / 1e9);
  if (o.diagnose && !diag.empty()) {
    std::vector<std::size_t> order(lateness.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lateness[a] > lateness[b]; });
    std::printf(
        "  the latest wake-ups (us; 'not running' = worker thread's wall - CPU time during the sleep):\n"
        "  %6s %10s %10s %12s %13s %14s %6s %8s %9s %5s\n",
        "index", "at", "lateness", "not running", "worker delay", "monitor delay", "preem", "signals", "deferred",
        "cpus");
    for (std::size_t k = 0; k < order.size() && k < 10; ++k) {
      std::size_t i = order[k];
      const wake_diag& d = diag[i];
      std::printf("  %6zu %10.0f %10.1f %12.1f %13.1f %14.1f %6llu %8llu %9llu %2d/%-2d\n", i,
                  static_cast<double>(sleep_start[i]) / 1000.0, static_cast<double>(lateness[i]) / 1000.0,
                  static_cast<double>(d.not_running_ns) / 1000.0, static_cast<double>(d.worker_delay_ns) / 1000.0,
                  static_cast<double>(d.monitor_delay_ns) / 1000.0, static_cast<unsigned long long>(d.preemptions),
                  static_cast<unsigned long long>(d.signals), static_cast<unsigned long long>(d.deferred), d.worker_cpu,
                  d.monitor_cpu);
    }
  }
  return 0;
}
