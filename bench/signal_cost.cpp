// bench/signal_cost.cpp — what it costs a busy thread to be interrupted by a
// signal, by the way the signal is raised. It sizes `full` preemption: every
// asynchronous preemption is one such signal, so the cheapest way to raise
// one on time bounds the throughput any quantum can keep.
//
// Usage: signal_cost [--rounds N] [--window-ms M] [--period-us P]
//
// The workload. One thread, pinned to the last CPU, runs a register-only loop
// and counts iterations per wall-clock second in windows of --window-ms
// (default 200). Windows alternate: a baseline with no signal, then one with
// the mechanism under test raising SIGURG (empty handler, SA_RESTART) every
// --period-us (default 250). The ratio of the two windows, median over
// --rounds (default 12) pairs, is the throughput left; the CPU time lost per
// signal is (1 - ratio) × window / signals. Alternating windows cancel the
// VM's drift in CPU speed, which is larger than the effect being measured.
//
// Mechanisms:
//   other-cpu tgkill     a thread on another CPU sleeps for the period and
//                        sends tgkill: what jiffy's monitor does. The sender
//                        also wakes during the baseline windows (it just sends
//                        nothing), so only the signal is charged.
//   self tgkill          the busy thread signals itself every period (read
//                        from the TSC-backed monotonic clock): the kernel's
//                        signal delivery and sigreturn, with no interrupt.
//   thread timer         a POSIX timer on CLOCK_MONOTONIC, armed by the busy
//                        thread, aimed at it (SIGEV_THREAD_ID): fires on the
//                        busy thread's own CPU, from a timer interrupt.
//   thread-CPU timer     the same on CLOCK_THREAD_CPUTIME_ID: such timers are
//                        checked only at the scheduler tick, so the rate it
//                        reaches shows the tick, not the period asked for.
//
// Medians are nearest-rank (support/percentile.hpp): of an even count of
// rounds, the lower of the two middle ones.
#include "support/cli.hpp"
#include "support/percentile.hpp"
#include "support/pinning.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

std::atomic<long> delivered{0};
void count_signal(int) { delivered.fetch_add(1, std::memory_order_relaxed); }

double seconds_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

pid_t thread_id() { return static_cast<pid_t>(syscall(SYS_gettid)); }

enum class mechanism { other_cpu_tgkill, self_tgkill, thread_timer, thread_cpu_timer };
const char* name_of(mechanism m) {
  switch (m) {
    case mechanism::other_cpu_tgkill: return "other-cpu tgkill";
    case mechanism::self_tgkill: return "self tgkill";
    case mechanism::thread_timer: return "thread timer (CLOCK_MONOTONIC)";
    case mechanism::thread_cpu_timer: return "thread-CPU timer";
  }
  return "?";
}

struct settings {
  int rounds = 12;
  double window = 0.2;
  long period_us = 250;
};

// The busy loop: iterations per second over `secs`. With self_period > 0 it
// also signals itself every self_period seconds.
double busy_window(double secs, double self_period) {
  const double start = seconds_now();
  double next_self = start + self_period;
  long iterations = 0;
  long sink = 0;
  double now = start;
  while (now - start < secs) {
    for (int i = 0; i < 200; ++i) {
      sink += i;
      asm volatile("" : "+r"(sink));  // keeps the loop from being folded away
    }
    ++iterations;
    now = seconds_now();
    if (self_period > 0 && now >= next_self) {
      syscall(SYS_tgkill, getpid(), thread_id(), SIGURG);
      next_self += self_period;
    }
  }
  return static_cast<double>(iterations) / (seconds_now() - start);
}

struct result {
  double ratio;          // throughput left, median
  double cost_us;        // CPU time lost per signal, median
  double signals_per_s;  // achieved rate, median
};

result measure(mechanism m, const settings& s, int busy_cpu, int other_cpu) {
  bench::pin_this_thread(busy_cpu);
  const pid_t busy_tid = thread_id();
  const double period = static_cast<double>(s.period_us) * 1e-6;

  std::atomic<bool> stop{false};
  std::atomic<bool> sending{false};
  std::thread sender;
  if (m == mechanism::other_cpu_tgkill) {
    sender = std::thread([&] {
      bench::pin_this_thread(other_cpu);
      timespec nap{0, s.period_us * 1000};
      while (!stop.load(std::memory_order_relaxed)) {
        nanosleep(&nap, nullptr);
        if (sending.load(std::memory_order_relaxed)) syscall(SYS_tgkill, getpid(), busy_tid, SIGURG);
      }
    });
  }
  timer_t timer{};
  if (m == mechanism::thread_timer || m == mechanism::thread_cpu_timer) {
    sigevent ev{};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGURG;
    ev._sigev_un._tid = busy_tid;
    clockid_t clock = m == mechanism::thread_timer ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    if (timer_create(clock, &ev, &timer) != 0) {
      std::fprintf(stderr, "signal_cost: timer_create: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }
  auto arm = [&](long period_ns) {
    itimerspec its{};
    its.it_value.tv_sec = period_ns / 1000000000;
    its.it_value.tv_nsec = period_ns % 1000000000;
    its.it_interval = its.it_value;
    timer_settime(timer, 0, &its, nullptr);
  };

  std::vector<double> ratios, costs, rates;
  busy_window(s.window, 0);  // warm-up
  for (int r = 0; r < s.rounds; ++r) {
    double base = busy_window(s.window, 0);
    long before = delivered.load();
    double t0 = seconds_now();
    sending.store(true, std::memory_order_relaxed);
    if (m == mechanism::thread_timer || m == mechanism::thread_cpu_timer) arm(s.period_us * 1000);
    double with = busy_window(s.window, m == mechanism::self_tgkill ? period : 0);
    if (m == mechanism::thread_timer || m == mechanism::thread_cpu_timer) arm(0);
    sending.store(false, std::memory_order_relaxed);
    double elapsed = seconds_now() - t0;
    long signals = delivered.load() - before;
    double ratio = with / base;
    ratios.push_back(ratio);
    rates.push_back(static_cast<double>(signals) / elapsed);
    costs.push_back(signals > 0 ? (1 - ratio) * elapsed / static_cast<double>(signals) * 1e6 : 0);
  }
  stop.store(true);
  if (sender.joinable()) sender.join();
  if (m == mechanism::thread_timer || m == mechanism::thread_cpu_timer) timer_delete(timer);
  return {bench::median(ratios), bench::median(costs), bench::median(rates)};
}

constexpr const char* kHelp =
    "What a signal costs a busy thread, by how it is raised (see the comment atop\n"
    "bench/signal_cost.cpp).\n\n"
    "  --rounds N     pairs of windows, without and with signals (default 12)\n"
    "  --window-ms M  the length of a window in ms (default 200)\n"
    "  --period-us P  one signal every P us (default 250)\n";

settings parse_args(int argc, char** argv) {
  settings s;
  bench::cli::args args(argc, argv, "[--rounds N] [--window-ms M] [--period-us P]", kHelp);
  while (args.next()) {
    if (args.is("--rounds"))
      s.rounds = static_cast<int>(args.integer(1, 1000));
    else if (args.is("--window-ms"))
      s.window = static_cast<double>(args.integer(10, 10000)) * 1e-3;
    else if (args.is("--period-us"))
      s.period_us = static_cast<long>(args.integer(20, 1000000));
    else
      args.unknown();
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse_args(argc, argv);
  struct sigaction sa = {};
  sa.sa_handler = count_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGURG, &sa, nullptr);

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int busy_cpu = static_cast<int>(cpus > 0 ? cpus - 1 : 0);
  int other_cpu = cpus > 1 ? 0 : busy_cpu;
  if (cpus < 2) std::printf("note: one CPU only; 'other-cpu tgkill' shares the busy thread's CPU\n");
  std::printf("signal every %ld us, %d rounds of 2 x %.0f ms windows; busy thread on CPU %d\n\n", s.period_us, s.rounds,
              s.window * 1e3, busy_cpu);
  std::printf("| mechanism | signals/s | throughput left | CPU lost per signal |\n|---|---:|---:|---:|\n");
  for (mechanism m :
       {mechanism::other_cpu_tgkill, mechanism::self_tgkill, mechanism::thread_timer, mechanism::thread_cpu_timer}) {
    result r = measure(m, s, busy_cpu, other_cpu);
    std::printf("| %s | %.0f | %.2f%% | %.2f us |\n", name_of(m), r.signals_per_s, 100 * r.ratio, r.cost_us);
    std::fflush(stdout);
  }
}
