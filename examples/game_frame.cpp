// game_frame: a game engine's frame loop on jiffy.
//
// The program's own thread runs a 60 Hz loop. Each frame:
//
//   simulation  a fiber on the workers runs physics as one parallel_for over
//               the bodies, then fans out AI jobs (a fiber each) and waits
//               for them with a wait_group;
//   render      a main fiber (spawn_main) waits for the simulation, then
//               builds and "submits" the frame's draw list — work that must
//               run on the thread that owns the graphics context, so the
//               loop serves it (serve_main) and, meanwhile, helps run the
//               frame's jobs (serve_mode::help).
//
// Beside the frames, all the time:
//
//   audio       a fifo (real-time, priority 80) fiber due every 2.67 ms — 128
//               samples at 48 kHz — that mixes the next buffer; it must run
//               on time whatever the frame's jobs are doing, so it preempts
//               them when it wakes;
//   assets      a fiber that loads an asset every 100 ms through
//               jiffy::blocking (a slow file read on a helper thread), so the
//               read never stalls a worker.
//
// It prints the frame time (from the frame's start to its submission), the
// audio fiber's lateness and missed periods, and what the runtime did.
//
// Usage: game_frame [--seconds S] [--workers N] [--help]
#include "common/cli.hpp"
#include "common/percentiles.hpp"

#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

using namespace std::chrono;

namespace {

constexpr auto frame_period = microseconds(16667);  // 60 Hz
constexpr auto audio_period = microseconds(2667);   // 128 samples at 48 kHz
constexpr int bodies = 50000;
constexpr int ai_jobs = 200;

struct body {
  float x = 0, y = 0, vx = 1, vy = 0;
};

std::atomic<std::uint64_t> sink{0};

// About `n` microseconds of arithmetic, never yielding.
void compute_us(int n) {
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < n * 200; ++i) x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  sink.fetch_add(x & 1, std::memory_order_relaxed);
}

struct audio_report {
  std::vector<double> lateness_ms;
  std::size_t periods = 0, missed = 0;
};

// The audio fiber: due every audio_period until `stop`; a callback a whole
// period late (or never run) is a missed period, as a buffer underrun.
void audio_loop(audio_report& r, const std::atomic<bool>& stop) {
  auto due = steady_clock::now() + audio_period;
  while (!stop.load(std::memory_order_relaxed)) {
    jiffy::this_fiber::sleep_until(due);
    auto now = steady_clock::now();
    r.lateness_ms.push_back(duration<double, std::milli>(now - due).count());
    ++r.periods;
    if (now - due >= audio_period) ++r.missed;
    compute_us(40);  // mix 128 samples
    due += audio_period;
    for (; due <= now; due += audio_period) ++r.periods, ++r.missed;
  }
}

// A slow file read, done where blocking is harmless.
std::uint64_t load_asset(int n) {
  std::this_thread::sleep_for(milliseconds(20));  // the disk
  std::uint64_t sum = 0;
  for (int i = 0; i < 100000; ++i) sum += static_cast<std::uint64_t>(i * n) % 7;
  return sum;
}

// One frame's simulation, on the workers: physics, then AI.
void simulate(std::vector<body>& world, float dt) {
  jiffy::parallel_for(0, bodies, [&](int i) {
    body& b = world[static_cast<std::size_t>(i)];
    b.vy -= 9.81f * dt;
    b.x += b.vx * dt;
    b.y += b.vy * dt;
    if (b.y < 0) b.y = -b.y, b.vy = -b.vy * 0.9f;
  });
  jiffy::wait_group thinking(ai_jobs);
  for (int j = 0; j < ai_jobs; ++j)
    jiffy::spawn({.name = "ai"}, [&thinking] {
      compute_us(8);  // path-finding, decisions
      thinking.done();
    }).detach();
  thinking.wait();
}

const examples::cli::program program{
    "game_frame",
    "usage: game_frame [--seconds S] [--workers N]\n"
    "  --seconds S  how long the game runs (default 3)\n"
    "  --workers N  worker threads, 1 or more (default: one per hardware thread)\n"
    "Runs a 60 Hz frame loop: physics (parallel_for) and AI jobs on the workers, render\n"
    "submission on the main thread (spawn_main/serve_main), asset loading through\n"
    "blocking(), and a fifo audio fiber due every 2.67 ms; prints frame times and audio lateness.\n"};

struct config {
  long seconds = 3;
  long workers = 0;
};

config parse_command_line(int argc, char** argv) {
  config cfg;
  examples::cli::arguments args(program, argc, argv);
  while (args.next()) {
    if (args.is("--seconds"))
      cfg.seconds = args.number_at_least(1);
    else if (args.is("--workers"))
      cfg.workers = args.number_at_least(1);
    else
      args.reject_unknown();
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg = parse_command_line(argc, argv);
  jiffy::runtime rt({.workers = static_cast<unsigned>(cfg.workers), .preempt = jiffy::preempt_mode::full});

  std::atomic<bool> stop{false};
  audio_report audio;
  auto audio_fiber = rt.spawn({.policy = jiffy::sched_policy::fifo, .priority = 80, .name = "audio"},
                              [&] { audio_loop(audio, stop); });
  std::atomic<int> assets_loaded{0};
  auto loader = rt.spawn({.name = "asset loader"}, [&] {
    for (int n = 1; !stop.load(std::memory_order_relaxed); ++n) {
      sink.fetch_add(jiffy::blocking([n] { return load_asset(n); }), std::memory_order_relaxed);
      assets_loaded.fetch_add(1, std::memory_order_relaxed);
      jiffy::this_fiber::sleep_for(milliseconds(100));
    }
  });

  std::vector<body> world(bodies);
  std::vector<double> frame_ms;
  std::size_t over_budget = 0;
  std::size_t draw_calls = 0;  // written by the render fiber, on this thread
  const auto end = steady_clock::now() + seconds(cfg.seconds);
  auto vsync = steady_clock::now();
  while (vsync < end) {
    auto start = steady_clock::now();
    jiffy::wait_group simulated(1), submitted(1);
    rt.spawn({.name = "simulation"}, [&] {
        simulate(world, 1.0f / 60);
        simulated.done();
      }).detach();
    rt.spawn_main({.name = "render"}, [&] {
        simulated.wait();
        compute_us(500);  // walk the scene, build the draw list
        draw_calls += 1000;
        submitted.done();
      }).detach();
    rt.serve_main(submitted, jiffy::serve_mode::help);
    auto took = steady_clock::now() - start;
    frame_ms.push_back(duration<double, std::milli>(took).count());
    if (took > frame_period) ++over_budget;
    vsync += frame_period;
    if (vsync < steady_clock::now()) vsync = steady_clock::now();  // a long frame: no catch-up burst
    std::this_thread::sleep_until(vsync);
  }
  stop = true;
  audio_fiber.join();
  loader.join();

  std::sort(frame_ms.begin(), frame_ms.end());
  std::sort(audio.lateness_ms.begin(), audio.lateness_ms.end());
  jiffy::runtime_stats st = rt.stats();
  std::printf("game_frame: %u workers, %ld s, 60 Hz; %d bodies (parallel_for) and %d AI jobs per frame\n\n",
              rt.workers(), cfg.seconds, bodies, ai_jobs);
  std::printf("frames       %zu (over the 16.7 ms budget: %zu), %zu draw calls submitted on the main thread\n",
              frame_ms.size(), over_budget, draw_calls);
  std::printf("frame time   p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", examples::percentile(frame_ms, 50),
              examples::percentile(frame_ms, 99), examples::percentile(frame_ms, 100));
  std::printf("audio        %zu periods of 2.67 ms, %zu missed; late p50 %.3f ms   p99 %.3f ms   max %.3f ms\n",
              audio.periods, audio.missed, examples::percentile(audio.lateness_ms, 50),
              examples::percentile(audio.lateness_ms, 99), examples::percentile(audio.lateness_ms, 100));
  // How long fibers waited runnable before they ran (the scheduler's part of
  // the audio lateness above; the kernel's schedstat run_delay), per class.
  for (jiffy::sched_policy p : {jiffy::sched_policy::fifo, jiffy::sched_policy::normal}) {
    const jiffy::run_delay_stats& d = st.run_delay_of(p);
    std::printf("run delay    %-12s %8llu runs; waited p50 %.1f us   p99 %.1f us   max %.1f us\n",
                jiffy::sched_policy_name(p), static_cast<unsigned long long>(d.runs), d.p50_ns / 1e3, d.p99_ns / 1e3,
                d.max_ns / 1e3);
  }
  std::printf("assets       %d loaded through blocking()\n", assets_loaded.load());
  std::printf("runtime      %llu fibers, %llu preemptions by signal, %llu wake-up preemptions, %llu steals\n",
              static_cast<unsigned long long>(st.fibers_spawned), static_cast<unsigned long long>(st.preemptions),
              static_cast<unsigned long long>(st.wakeup_preemptions), static_cast<unsigned long long>(st.steals));
  return 0;
}
