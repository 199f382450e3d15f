// bench/preempt_cost.cpp — what `full` preemption costs a CPU-bound program:
// the price of one preemption, the throughput left at quanta of 1 ms and
// 100 µs, the signal rate, and that a workload that yields sends no signal.
//
// Usage: preempt_cost [--rounds N] [--window S] [--cost-quantum-us N]
//                     [--no-pin] [--quick]
//
// The workload.  Two CPU-bound fibers on a ONE-worker runtime, neither ever
// yielding. A work unit is 16 xorshift64 steps on a fiber-local value, then a
// relaxed store of the result and of the fiber's unit count (plain stores the
// main thread reads: one writer each). Each unit also reads the time stamp
// counter (bench::ticks_stop(), support/ticks.hpp: `lfence; rdtsc`, or
// `isb; mrs cntvct_el0` on AArch64: the previous unit has completed when it
// reads; one fence, not ticks_start()'s two, as a switch takes microseconds)
// — code inlined into the executable, so preemptible — for the direct
// measurement below. Under `none` the first
// fiber runs alone; the work done per second is the same either way, and
// that is the baseline.
//
// Configurations: none; full, quantum 1 ms; full, 100 µs; full,
// `--cost-quantum-us` (default 50 µs: as many preemptions as the monitor
// will make, so that their cost stands out of the noise).
//
// Interleaving.  On a shared VM the speed of one CPU drifts by several
// percent over seconds (measured here: ±5% between consecutive 1 s runs of
// the same configuration), far more than the effect to measure. So all four
// runtimes exist at once, their workers pinned to the same CPU, and only one
// is active at a time: the main thread opens one runtime's gate (a
// jiffy::condition_variable the fibers wait on), lets it settle for 10 ms,
// counts its work units over a `--window` (default 100 ms) while reading its
// runtime_stats before and after, and closes the gate (the fibers check it
// every unit and park). A round visits every configuration once, starting
// one further along each round; `--rounds` (default 25) rounds, after one
// untimed warm-up round. A configuration's throughput is divided by the
// `none` window of the same round; the table shows the median of those
// ratios, and their interquartile range.
//
// The price of one preemption, two ways.
//  (a) Direct: the fibers share one word: the TSC at which the last unit
//      began, tagged with the fiber that ran it. When a fiber sees the
//      other's tag, it records now - that TSC: the time from the last unit
//      the preempted fiber began to the first the next one begins — the
//      signal's delivery, the handler, the pick and the switch, and the
//      sigreturn that resumes the next fiber (which was itself preempted in
//      the handler), plus up to one work unit (~40 ns). (A fiber preempted
//      between reading the TSC and publishing it hides that one switch; the
//      word is written in one store so it can never pair one fiber's time
//      with the other's tag.) Percentiles over every switch in the windows.
//      For reference, the same measurement on a plain thread whose signal
//      handler does nothing (SIGUSR1 sent by the main thread every ~250 µs):
//      the kernel's and the hypervisor's share.
//  (b) Indirect: CPU time lost per preemption, from throughput: with r the
//      round's ratio to `none` and p the preemptions per second in the
//      window, each preemption cost (1 - r) / p seconds. This includes what
//      (a) cannot see: cache and TLB refill after the switch, the kernel's
//      interrupt work on the worker's CPU. Median over rounds; meaningful at
//      the small quanta, where the loss is well above the noise (at 1 ms it
//      is mostly noise).
//
// Signals.  signals_sent and preemptions per second of each configuration,
// and a pure-yield workload: two fibers yielding to each other on one
// worker under `full` (quantum 1 ms) for 1 s: every slice ends long before
// its quantum, so signals_sent must be 0.
//
// Pinning.  With two or more CPUs allowed (and no --no-pin), the main thread
// — and with it the runtimes' monitor threads, which inherit its affinity —
// is pinned to the first allowed CPU and every worker thread (from inside a
// fiber) to the second, so the OS cannot move them around between windows.
//
// Percentiles and medians are nearest-rank (support/percentile.hpp).
//
// The targets: throughput >= 99% of `none` at 1 ms, >= 97% at 100 µs.

#include "support/cli.hpp"
#include "support/percentile.hpp"
#include "support/pinning.hpp"
#include "support/ticks.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* kSynopsis = "[--rounds N] [--window S] [--cost-quantum-us N] [--no-pin] [--quick]";

constexpr const char* kHelp =
    "What `full` preemption costs a CPU-bound program (see the comment atop\n"
    "bench/preempt_cost.cpp).\n\n"
    "  --rounds N           timed rounds, each visiting every configuration (default 25)\n"
    "  --window S           seconds counted per visit (default 0.1)\n"
    "  --cost-quantum-us N  the quantum of the 4th configuration, in us (default 50)\n"
    "  --no-pin             do not pin the main thread and the workers to CPUs\n"
    "  --quick              2 rounds of 20 ms windows: a smoke test\n";

struct options {
  int rounds = 25;
  double window = 0.1;        // seconds counted per visit
  double settle = 0.01;       // seconds between opening a gate and counting
  double side_seconds = 1.0;  // the signal reference and the yield test
  long cost_quantum_us = 50;
  bool pin = true;
};

struct pinning {
  bool enabled = false;
  int helper_cpu = -1, worker_cpu = -1;
};

// The first two allowed CPUs; pins the calling (main) thread to the first.
pinning setup_pinning(bool wanted) {
  pinning p;
  const std::vector<int> cpus = bench::allowed_cpus();
  if (!wanted || cpus.size() < 2) return p;
  p.helper_cpu = cpus[0];
  p.worker_cpu = cpus[1];
  p.enabled = bench::pin_this_thread(p.helper_cpu);
  return p;
}

void sleep_seconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

struct alignas(64) fiber_slot {
  std::atomic<std::uint64_t> units{0};
  std::atomic<std::uint64_t> sink{0};
};

constexpr std::size_t kGapCapacity = 1 << 18;

// One configuration: its runtime, its two fibers, its gate and what was
// measured.
struct bench_runtime {
  std::string name;
  jiffy::preempt_mode mode;
  long quantum_us;
  double target = 0;  // minimum ratio to none, 0: none

  std::unique_ptr<jiffy::runtime> rt;
  jiffy::fiber fibers[2];

  // The gate: `open` and `stop` under `m`, mirrored in `state` for the
  // per-unit test (0 closed, 1 open, 2 stopping). A fiber computes only while
  // it reads 1, so one that missed a close-and-reopen still sees a stop.
  jiffy::mutex m;
  jiffy::condition_variable cv;
  bool open = false;
  bool stop = false;
  std::atomic<int> state{0};

  std::atomic<bool> recording{false};
  // The tick at which the last unit began, with the fiber that ran it in the
  // low bit.
  std::atomic<std::uint64_t> last{0};
  std::atomic<std::size_t> gap_count{0};
  std::unique_ptr<std::uint64_t[]> gaps{new std::uint64_t[kGapCapacity]};
  fiber_slot slot[2];

  // Per round (one visit each).
  std::vector<double> units_per_s, preempt_per_s;
  double seconds = 0;
  std::uint64_t preemptions = 0, signals = 0, deferred = 0;

  std::uint64_t units() const {
    return slot[0].units.load(std::memory_order_relaxed) + slot[1].units.load(std::memory_order_relaxed);
  }
};

// The computing part of a work unit: 16 xorshift64 steps.
inline std::uint64_t work_unit(std::uint64_t x) noexcept {
  for (int k = 0; k < 16; ++k) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

// One fiber's loop. Both fibers of a runtime share one worker thread, so the
// relaxed atomics are plain loads and stores; they are atomics only so the
// compiler re-reads what the other fiber (or the main thread) wrote.
void cpu_bound(bench_runtime& br, int me) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(me + 1);
  const std::uint64_t tag = static_cast<std::uint64_t>(me);
  fiber_slot& mine = br.slot[me];
  std::uint64_t units = 0;
  for (;;) {
    if (br.state.load(std::memory_order_relaxed) != 1) {
      std::unique_lock<jiffy::mutex> lk(br.m);
      br.cv.wait(lk, [&br] { return br.open || br.stop; });
      if (br.stop) return;
      continue;
    }
    const std::uint64_t prev = br.last.load(std::memory_order_relaxed);
    const std::uint64_t t = bench::ticks_stop();
    if ((prev & 1) != tag && br.recording.load(std::memory_order_relaxed)) {
      // The other fiber ran the last unit: this one was just switched back in.
      std::size_t i = br.gap_count.load(std::memory_order_relaxed);
      if (i < kGapCapacity) {
        br.gaps[i] = t - (prev & ~std::uint64_t{1});
        br.gap_count.store(i + 1, std::memory_order_relaxed);
      }
    }
    br.last.store((t & ~std::uint64_t{1}) | tag, std::memory_order_relaxed);
    x = work_unit(x);
    mine.sink.store(x, std::memory_order_relaxed);
    mine.units.store(++units, std::memory_order_relaxed);
  }
}

void set_gate(bench_runtime& br, bool open, bool stop = false) {
  {
    std::lock_guard<jiffy::mutex> lk(br.m);
    br.open = open;
    br.stop = stop;
    br.state.store(stop ? 2 : open ? 1 : 0, std::memory_order_relaxed);
  }
  br.cv.notify_all();
}

// One visit: open the gate, settle, count over the window, close the gate.
void visit(bench_runtime& br, const options& o, bool timed) {
  set_gate(br, true);
  sleep_seconds(o.settle);
  const jiffy::runtime_stats st0 = br.rt->stats();
  br.recording.store(timed, std::memory_order_relaxed);
  const clock_type::time_point t0 = clock_type::now();
  const std::uint64_t u0 = br.units();
  sleep_seconds(o.window);
  const std::uint64_t u1 = br.units();
  const clock_type::time_point t1 = clock_type::now();
  br.recording.store(false, std::memory_order_relaxed);
  const jiffy::runtime_stats st1 = br.rt->stats();
  set_gate(br, false);
  if (!timed) return;
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const std::uint64_t pre = st1.preemptions - st0.preemptions;
  br.units_per_s.push_back(static_cast<double>(u1 - u0) / secs);
  br.preempt_per_s.push_back(static_cast<double>(pre) / secs);
  br.seconds += secs;
  br.preemptions += pre;
  br.signals += st1.signals_sent - st0.signals_sent;
  br.deferred += st1.deferred_preemptions - st0.deferred_preemptions;
}

// Reference: a signal round trip with an empty handler, on a plain thread
// running the same loop — what the kernel (and hypervisor) charge for
// delivering a signal and returning from it, without jiffy's handler work or
// a switch. The handler counts; the loop reads the count before and after
// reading the tick, and when it changed before the tick, the time since the
// previous iteration's tick is one unit plus the interruption. (A signal
// landing between the two reads is skipped.)
std::atomic<std::uint64_t> g_handled{0};
void counting_handler(int) { g_handled.fetch_add(1, std::memory_order_relaxed); }

struct reference_result {
  std::vector<double> gaps_ns;
  std::uint64_t sent = 0;
};

reference_result measure_signal_round_trip(const options& o, const pinning& pin, double ns_per_tick) {
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = &counting_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &old);

  std::atomic<bool> stop{false};
  std::atomic<bool> recording{false};
  std::unique_ptr<std::uint64_t[]> gaps(new std::uint64_t[kGapCapacity]);
  std::size_t count = 0;  // written by the spinner only, read after join
  std::thread spinner([&] {
    if (pin.enabled) bench::pin_this_thread(pin.worker_cpu);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL, seen = g_handled.load(std::memory_order_relaxed);
    std::uint64_t prev_t = bench::ticks_stop();
    std::atomic<std::uint64_t> sink{0};
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t h1 = g_handled.load(std::memory_order_relaxed);
      const std::uint64_t t = bench::ticks_stop();
      const std::uint64_t h2 = g_handled.load(std::memory_order_relaxed);
      if (h1 != seen && recording.load(std::memory_order_relaxed) && count < kGapCapacity) gaps[count++] = t - prev_t;
      seen = h2;
      prev_t = t;
      x = work_unit(x);
      sink.store(x, std::memory_order_relaxed);
    }
  });
  sleep_seconds(0.05);
  reference_result r;
  recording.store(true, std::memory_order_relaxed);
  const clock_type::time_point end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                             std::chrono::duration<double>(o.side_seconds));
  while (clock_type::now() < end) {  // a few thousand signals per second, like `full` at small quanta
    pthread_kill(spinner.native_handle(), SIGUSR1);
    ++r.sent;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  recording.store(false, std::memory_order_relaxed);
  stop.store(true, std::memory_order_relaxed);
  spinner.join();
  sigaction(SIGUSR1, &old, nullptr);
  r.gaps_ns.reserve(count);
  for (std::size_t i = 0; i < count; ++i) r.gaps_ns.push_back(static_cast<double>(gaps[i]) * ns_per_tick);
  return r;
}

// Idle and total jiffies of all CPUs (/proc/stat), to tell whether something
// else was running during the rounds.
struct cpu_times {
  double idle = 0, total = 0;
};
cpu_times read_cpu_times() {
  cpu_times t;
  if (std::FILE* f = std::fopen("/proc/stat", "r")) {
    unsigned long long v[8] = {};
    if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                    &v[7]) == 8) {
      t.idle = static_cast<double>(v[3] + v[4]);
      for (unsigned long long x : v) t.total += static_cast<double>(x);
    }
    std::fclose(f);
  }
  return t;
}

options parse_args(int argc, char** argv) {
  options o;
  bench::cli::args args(argc, argv, kSynopsis, kHelp);
  while (args.next()) {
    if (args.is("--rounds"))
      o.rounds = static_cast<int>(args.integer(1, 100000));
    else if (args.is("--window"))
      o.window = args.number(0.001, 3600);
    else if (args.is("--cost-quantum-us"))
      o.cost_quantum_us = static_cast<long>(args.integer(1, 10000000));
    else if (args.is("--no-pin"))
      o.pin = false;
    else if (args.is("--quick"))
      o.rounds = 2, o.window = 0.02, o.settle = 0.005, o.side_seconds = 0.1;
    else
      args.unknown();
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  const pinning pin = setup_pinning(o.pin);
  const double ns_per_tick = 1 / bench::ticks_per_ns();

  std::vector<std::unique_ptr<bench_runtime>> configs;
  auto add = [&configs](std::string name, jiffy::preempt_mode mode, long quantum_us, double target) {
    auto br = std::make_unique<bench_runtime>();
    br->name = std::move(name);
    br->mode = mode;
    br->quantum_us = quantum_us;
    br->target = target;
    configs.push_back(std::move(br));
  };
  add("none", jiffy::preempt_mode::none, 1000, 0);
  add("full, quantum 1 ms", jiffy::preempt_mode::full, 1000, 0.99);
  add("full, quantum 100 us", jiffy::preempt_mode::full, 100, 0.97);
  add("full, quantum " + std::to_string(o.cost_quantum_us) + " us", jiffy::preempt_mode::full, o.cost_quantum_us, 0);

  for (auto& c : configs) {
    bench_runtime& br = *c;
    br.rt = std::make_unique<jiffy::runtime>(
        jiffy::runtime_options{.workers = 1, .preempt = br.mode, .quantum = std::chrono::microseconds(br.quantum_us)});
    if (pin.enabled) br.rt->block_on([&pin] { bench::pin_this_thread(pin.worker_cpu); });
    for (int f = 0; f < 2; ++f) br.fibers[f] = br.rt->spawn([&br, f] { cpu_bound(br, f); });
  }

  std::string pin_text = pin.enabled ? "main and monitors pinned to CPU " + std::to_string(pin.helper_cpu) +
                                           ", workers to CPU " + std::to_string(pin.worker_cpu)
                                     : "not pinned";
  std::printf(
      "preempt_cost: 2 CPU-bound fibers on 1 worker; %zu configurations visited in turn, %d rounds of "
      "%.0f ms windows (+1 warm-up round); %s\n\n",
      configs.size(), o.rounds, o.window * 1000, pin_text.c_str());
  std::fflush(stdout);

  const std::size_t k = configs.size();
  for (std::size_t c = 0; c < k; ++c) visit(*configs[c], o, false);
  const cpu_times cpu0 = read_cpu_times();
  for (int round = 0; round < o.rounds; ++round)
    for (std::size_t i = 0; i < k; ++i) visit(*configs[(static_cast<std::size_t>(round) + i) % k], o, true);
  const cpu_times cpu1 = read_cpu_times();

  for (auto& c : configs) {
    // Stop: a fiber caught mid-loop (preempted, or one that never saw the
    // last close) reads state 2, leaves its loop and finds `stop` at the gate.
    set_gate(*c, false, true);
    for (jiffy::fiber& f : c->fibers) f.join();
    c->rt.reset();
  }

  // Throughput.
  const bench_runtime& none = *configs[0];
  std::printf(
      "| configuration | work units/s (median) | relative to none: median [IQR] | preemptions/s | "
      "signals sent/s | deferred/s | mean slice | target | met? |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|:---:|\n");
  std::vector<std::vector<double>> ratios(k);
  for (std::size_t c = 0; c < k; ++c) {
    const bench_runtime& br = *configs[c];
    for (int r = 0; r < o.rounds; ++r)
      ratios[c].push_back(br.units_per_s[static_cast<std::size_t>(r)] / none.units_per_s[static_cast<std::size_t>(r)]);
    const double med = bench::median(ratios[c]);
    char target[32] = "—", met[8] = "—", slice[32] = "—";
    if (br.target > 0) {
      std::snprintf(target, sizeof target, ">= %.0f%%", br.target * 100);
      std::snprintf(met, sizeof met, "%s", med >= br.target ? "yes" : "no");
    }
    if (br.preemptions > 0)
      std::snprintf(slice, sizeof slice, "%.0f us", br.seconds * 1e6 / static_cast<double>(br.preemptions));
    std::printf("| %s | %.4g | %.2f%% [%.2f, %.2f] | %.0f | %.0f | %.0f | %s | %s | %s |\n", br.name.c_str(),
                bench::median(br.units_per_s), med * 100, bench::percentile(ratios[c], 0.25) * 100,
                bench::percentile(ratios[c], 0.75) * 100, static_cast<double>(br.preemptions) / br.seconds,
                static_cast<double>(br.signals) / br.seconds, static_cast<double>(br.deferred) / br.seconds, slice,
                target, met);
  }
  std::printf("\n(median and interquartile range of %d per-round ratios; mean slice = window time / preemptions)\n",
              o.rounds);
  if (cpu1.total > cpu0.total)
    std::printf("(all CPUs were %.0f%% busy during the rounds, of %ld; the benchmark itself keeps about one busy)\n",
                100 - (cpu1.idle - cpu0.idle) * 100 / (cpu1.total - cpu0.total), sysconf(_SC_NPROCESSORS_ONLN));

  // Price of one preemption.
  std::printf(
      "\n| configuration | switches timed | direct: p50 ns | p90 ns | p99 ns | indirect: ns lost per "
      "preemption (median of %d) |\n",
      o.rounds);
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (std::size_t c = 1; c < k; ++c) {
    const bench_runtime& br = *configs[c];
    std::vector<double> gaps, lost;
    const std::size_t n = std::min(br.gap_count.load(std::memory_order_relaxed), kGapCapacity);
    for (std::size_t i = 0; i < n; ++i) gaps.push_back(static_cast<double>(br.gaps[i]) * ns_per_tick);
    std::sort(gaps.begin(), gaps.end());
    for (int r = 0; r < o.rounds; ++r) {
      const double p = br.preempt_per_s[static_cast<std::size_t>(r)];
      if (p > 0) lost.push_back((1 - ratios[c][static_cast<std::size_t>(r)]) / p * 1e9);
    }
    std::printf("| %s | %zu | %.0f | %.0f | %.0f | %.0f |\n", br.name.c_str(), gaps.size(),
                bench::percentile_sorted(gaps, 0.5), bench::percentile_sorted(gaps, 0.9),
                bench::percentile_sorted(gaps, 0.99), bench::median(lost));
  }
  {
    reference_result ref = measure_signal_round_trip(o, pin, ns_per_tick);
    std::sort(ref.gaps_ns.begin(), ref.gaps_ns.end());
    std::printf(
        "| reference: empty SIGUSR1 handler on a plain thread, no switch (%llu sent in %.1f s) | %zu | %.0f | "
        "%.0f | %.0f | — |\n",
        static_cast<unsigned long long>(ref.sent), o.side_seconds, ref.gaps_ns.size(),
        bench::percentile_sorted(ref.gaps_ns, 0.5), bench::percentile_sorted(ref.gaps_ns, 0.9),
        bench::percentile_sorted(ref.gaps_ns, 0.99));
  }

  // Pure yield: no signal may be sent.
  {
    jiffy::runtime rt({.workers = 1, .preempt = jiffy::preempt_mode::full});
    if (pin.enabled) rt.block_on([&pin] { bench::pin_this_thread(pin.worker_cpu); });
    std::atomic<bool> stop{false};
    auto yielder = [&stop] {
      while (!stop.load(std::memory_order_relaxed)) jiffy::this_fiber::yield();
    };
    const jiffy::runtime_stats st0 = rt.stats();
    jiffy::fiber a = rt.spawn(yielder);
    jiffy::fiber b = rt.spawn(yielder);
    sleep_seconds(o.side_seconds);
    stop.store(true, std::memory_order_relaxed);
    a.join();
    b.join();
    const jiffy::runtime_stats st1 = rt.stats();
    const unsigned long long signals = st1.signals_sent - st0.signals_sent;
    std::printf(
        "\n| pure-yield workload: 2 fibers, 1 worker, full, quantum 1 ms, %.1f s | yields | preemptions | "
        "deferred | signals_sent | zero signals? |\n",
        o.side_seconds);
    std::printf("|---|---:|---:|---:|---:|:---:|\n");
    std::printf("| | %llu | %llu | %llu | %llu | %s |\n", static_cast<unsigned long long>(st1.yields - st0.yields),
                static_cast<unsigned long long>(st1.preemptions - st0.preemptions),
                static_cast<unsigned long long>(st1.deferred_preemptions - st0.deferred_preemptions), signals,
                signals == 0 ? "yes" : "NO");
  }
  return 0;
}
