// audio_demo: why a fiber runtime needs preemption, in one table.
//
// One worker runs an "audio" fiber that must run every 2 ms (think: refill a
// sound card's buffer) next to fibers that each compute for 5 ms at a time
// without yielding (think: decode a frame, run physics). The same workload
// runs under each preemption model:
//
//   none                      the audio fiber runs only when a 5 ms burst ends
//   voluntary, no cond_resched  the same: the bursts contain no preemption point
//   voluntary + cond_resched  the bursts call cond_resched() as they go: the
//                             runtime switches there once the quantum is used
//   full                      the bursts are preempted by signal once they have
//                             run a quantum, wherever they are
//   full/lazy, audio fifo 80  the audio fiber is a real-time fiber (SCHED_FIFO,
//                             priority 80): its timer preempts a burst the
//                             moment it is due, not when the burst's quantum
//                             ends
//
// and the table shows the audio fiber's lateness — how long after its due time
// each callback ran — and how many periods it missed: a callback that runs a
// whole period late or more has missed its period (the sound card played
// silence), and the periods that came due while it waited are dropped and
// counted as missed too, as with a buffer underrun.
//
// Usage: audio_demo [--seconds S] [--quantum-us Q] [--help]
#include "common/cli.hpp"
#include "common/percentiles.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

using namespace std::chrono;

namespace {

struct scenario {
  const char* name;
  jiffy::preempt_mode mode;
  bool cond_resched_in_work;
  jiffy::sched_policy audio_policy = jiffy::sched_policy::normal;  // fifo: the audio fiber is real time
};

struct outcome {
  std::size_t periods = 0, callbacks = 0, missed = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  std::uint64_t preemptions = 0, voluntary = 0;
};

std::atomic<std::uint64_t> sink{0};

// Computes for `d` without yielding; calls cond_resched() every few
// microseconds of work if asked to.
void burst(steady_clock::duration d, bool with_cond_resched) {
  auto until = steady_clock::now() + d;
  std::uint64_t x = 88172645463325252ull;
  while (steady_clock::now() < until) {
    for (int i = 0; i < 200; ++i) x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // ~1 µs of work
    sink.fetch_add(x & 1, std::memory_order_relaxed);
    if (with_cond_resched) jiffy::cond_resched();
  }
}

outcome run(const scenario& s, seconds length, microseconds quantum) {
  jiffy::runtime rt({.workers = 1, .preempt = s.mode, .quantum = quantum});
  const auto period = milliseconds(2);
  std::vector<double> lateness_ms;
  lateness_ms.reserve(static_cast<std::size_t>(length / period) + 16);
  std::atomic<bool> stop{false};
  std::size_t periods = 0, missed = 0;

  rt.block_on([&] {
    std::vector<jiffy::fiber> workers;
    workers.reserve(2);
    for (int i = 0; i < 2; ++i)
      workers.push_back(jiffy::spawn({.name = i == 0 ? "work-0" : "work-1"}, [&] {
        while (!stop.load(std::memory_order_relaxed)) {
          burst(milliseconds(5), s.cond_resched_in_work);
          jiffy::this_fiber::yield();
        }
      }));
    jiffy::fiber_options audio_options{.policy = s.audio_policy,
                                       .priority = s.audio_policy == jiffy::sched_policy::fifo ? 80 : 0,
                                       .name = "audio"};
    jiffy::fiber audio = jiffy::spawn(audio_options, [&] {
      auto start = steady_clock::now();
      auto due = start + period;
      while (due < start + length) {
        jiffy::this_fiber::sleep_until(due);
        auto now = steady_clock::now();
        lateness_ms.push_back(duration<double, std::milli>(now - due).count());
        ++periods;
        if (now - due >= period) ++missed;
        due += period;
        for (; due <= now; due += period) ++periods, ++missed;  // came due while we waited: dropped
      }
      stop = true;
    });
    audio.join();
    for (auto& w : workers) w.join();
  });

  outcome o;
  std::sort(lateness_ms.begin(), lateness_ms.end());
  o.periods = periods;
  o.callbacks = lateness_ms.size();
  o.missed = missed;
  o.p50_ms = examples::percentile(lateness_ms, 50);
  o.p99_ms = examples::percentile(lateness_ms, 99);
  o.max_ms = examples::percentile(lateness_ms, 100);
  auto st = rt.stats();
  o.preemptions = st.preemptions;
  o.voluntary = st.voluntary_reschedules;
  return o;
}

const examples::cli::program program{
    "audio_demo",
    "usage: audio_demo [--seconds S] [--quantum-us Q]\n"
    "  --seconds S     how long each model runs (default 2)\n"
    "  --quantum-us Q  the preemption quantum in microseconds, 50 or more (default 1000)\n"
    "Runs a 2 ms periodic 'audio' fiber next to two fibers computing 5 ms at a time,\n"
    "on one worker, under each preemption model, and prints the audio fiber's lateness.\n"};

struct config {
  long seconds_per_model = 2;
  long quantum_us = 1000;
};

config parse_command_line(int argc, char** argv) {
  config cfg;
  examples::cli::arguments args(program, argc, argv);
  while (args.next()) {
    if (args.is("--seconds"))
      cfg.seconds_per_model = args.number_at_least(1);
    else if (args.is("--quantum-us"))
      cfg.quantum_us = args.number_at_least(50);
    else
      args.reject_unknown();
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg = parse_command_line(argc, argv);

  const scenario scenarios[] = {
      {"none", jiffy::preempt_mode::none, false},
      {"voluntary, no cond_resched", jiffy::preempt_mode::voluntary, false},
      {"voluntary + cond_resched", jiffy::preempt_mode::voluntary, true},
      {"full", jiffy::preempt_mode::full, false},
      {"full, audio fifo 80", jiffy::preempt_mode::full, false, jiffy::sched_policy::fifo},
      {"lazy, audio fifo 80", jiffy::preempt_mode::lazy, false, jiffy::sched_policy::fifo},
  };
  std::printf(
      "1 worker: an audio fiber due every 2 ms, 2 fibers computing 5 ms at a time; quantum %ld us, %ld s per model\n\n",
      cfg.quantum_us, cfg.seconds_per_model);
  std::printf("%-28s %8s %8s %10s %10s %10s %12s\n", "model", "periods", "missed", "p50 late", "p99 late", "max late",
              "switches*");
  for (const scenario& s : scenarios) {
    outcome o = run(s, seconds(cfg.seconds_per_model), microseconds(cfg.quantum_us));
    std::printf("%-28s %8zu %8zu %8.2f ms %7.2f ms %7.2f ms %12llu\n", s.name, o.periods, o.missed, o.p50_ms, o.p99_ms,
                o.max_ms,
                static_cast<unsigned long long>(o.preemptions) + static_cast<unsigned long long>(o.voluntary));
  }
  std::printf(
      "\nmissed: periods whose callback ran a whole period (2 ms) late or later, or never ran.\n"
      "late: how long after its due time each callback ran.\n"
      "switches*: preemptions by signal (full) or at a preemption point (voluntary).\n");
  return 0;
}
