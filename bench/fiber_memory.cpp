// bench/fiber_memory.cpp — how much memory a parked fiber costs.
//
// Usage: fiber_memory [fibers (default 100000)] [workers (default 1)]
//
// Starts a runtime, then spawns `fibers` detached fibers from the main thread.
// Each one checks in on a wait_group and parks on a second one (the "gate"),
// so when the main thread's wait returns, every fiber has run and sits in a
// blocking wait with its own stack. At that point the program reads
// /proc/self/status (VmRSS, VmHWM, VmPTE, VmSize) and counts the lines of
// /proc/self/maps (one per VMA; the kernel refuses mappings beyond
// vm.max_map_count), and prints the growth since just after the runtime
// started, per fiber. Then it opens the gate and times how long the fibers
// take to wake and finish.
//
// RSS counts the stack pages the fibers touched (their control block and
// first frames live at the top of their stack); page tables are not in RSS
// and are reported separately (VmPTE), as is the virtual reservation.

#include "support/cli.hpp"

#include <jiffy/jiffy.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <string>

namespace {

struct proc_status {
  long rss_kb = 0;
  long hwm_kb = 0;
  long pte_kb = 0;
  long size_kb = 0;
};

proc_status read_status() {
  proc_status s;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    long* field = nullptr;
    if (line.rfind("VmRSS:", 0) == 0) field = &s.rss_kb;
    if (line.rfind("VmHWM:", 0) == 0) field = &s.hwm_kb;
    if (line.rfind("VmPTE:", 0) == 0) field = &s.pte_kb;
    if (line.rfind("VmSize:", 0) == 0) field = &s.size_kb;
    if (field) *field = std::strtol(line.c_str() + line.find(':') + 1, nullptr, 10);
  }
  return s;
}

long count_vmas() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

long read_max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  long n = -1;
  in >> n;
  return n;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct settings {
  unsigned long fibers = 100000;
  unsigned workers = 1;
};

settings parse_args(int argc, char** argv) {
  settings s;
  bench::cli::args args(argc, argv, "[fibers (default 100000)] [workers (default 1)]",
                        "The memory a parked fiber costs (see the comment atop bench/fiber_memory.cpp).\n");
  int place = 0;
  while (args.next()) {
    if (!args.positional() || place == 2) args.unknown();
    if (place++ == 0)
      s.fibers = static_cast<unsigned long>(args.integer(1, 100000000));
    else
      s.workers = static_cast<unsigned>(args.integer(1, 4096));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse_args(argc, argv);
  const unsigned long fibers = s.fibers;
  const unsigned workers = s.workers;

  jiffy::runtime rt({.workers = workers, .preempt = jiffy::preempt_mode::none});
  const proc_status before = read_status();
  const long vmas_before = count_vmas();

  jiffy::wait_group parked(static_cast<std::int64_t>(fibers));
  jiffy::wait_group gate(1);
  jiffy::wait_group finished(static_cast<std::int64_t>(fibers));

  auto t0 = std::chrono::steady_clock::now();
  for (unsigned long i = 0; i < fibers; ++i)
    rt.spawn([&parked, &gate, &finished] {
        parked.done();
        gate.wait();
        finished.done();
      }).detach();
  const double spawn_s = seconds_since(t0);
  parked.wait();
  const double parked_s = seconds_since(t0);

  const proc_status after = read_status();
  const long vmas_after = count_vmas();
  const jiffy::runtime_stats stats = rt.stats();

  t0 = std::chrono::steady_clock::now();
  gate.done();
  finished.wait();
  const double teardown_s = seconds_since(t0);

  const double n = static_cast<double>(fibers);
  const long rss_delta_kb = after.rss_kb - before.rss_kb;
  const long pte_delta_kb = after.pte_kb - before.pte_kb;
  std::printf("fibers:               %lu (workers %u, stack_size %zu bytes + guard)\n", fibers, workers,
              rt.stack_size());
  std::printf("RSS before/after:     %ld kB / %ld kB (VmHWM after: %ld kB)\n", before.rss_kb, after.rss_kb,
              after.hwm_kb);
  std::printf("RSS delta:            %ld kB\n", rss_delta_kb);
  std::printf("bytes per fiber:      %.0f (RSS) + %.0f (page tables, VmPTE delta %ld kB)\n",
              static_cast<double>(rss_delta_kb) * 1024.0 / n, static_cast<double>(pte_delta_kb) * 1024.0 / n,
              pte_delta_kb);
  std::printf("virtual per fiber:    %.0f bytes (VmSize delta %ld kB)\n",
              static_cast<double>(after.size_kb - before.size_kb) * 1024.0 / n, after.size_kb - before.size_kb);
  std::printf("VMAs before/after:    %ld / %ld (vm.max_map_count %ld)\n", vmas_before, vmas_after,
              read_max_map_count());
  std::printf("time:                 spawn %.3f s, all parked %.3f s, wake+finish %.3f s\n", spawn_s, parked_s,
              teardown_s);
  std::printf("until all parked:     %llu worker sleeps, %llu steals, %llu context switches\n",
              static_cast<unsigned long long>(stats.worker_sleeps), static_cast<unsigned long long>(stats.steals),
              static_cast<unsigned long long>(stats.context_switches));
  return 0;
}
