// bench/frame_jobs.cpp — a game engine's frame of small jobs: N jobs of
// about half a microsecond of arithmetic each, fanned out and waited for,
// frame after frame. Measured in one program, so the ratios hold on a noisy
// machine:
//   serial                 the jobs in a loop on the main thread
//   jiffy parallel_for     jiffy::parallel_for inside a fiber (automatic grain)
//   jiffy spawn+wait_group one fiber per job, then wait_group::wait
//   jiffy runtime::parallel_for from the main thread (a block_on per frame)
//   oneTBB parallel_for    tbb::parallel_for over a blocked_range (auto partitioner)
//   oneTBB task_group      one task per job, then wait
// each jiffy and oneTBB row on 1 and on W workers/threads (default 2).
//
// Usage: frame_jobs [--jobs N] [--frames N] [--workers W] [--job-ns NS]
// Prints a markdown table: median and p90 frame time, and the ratios the
// issue names (parallel_for vs oneTBB parallel_for and vs serial; W workers
// vs 1 for spawn+wait_group).
#include <jiffy/jiffy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#if !defined(FRAME_NO_TBB) && __has_include(<tbb/parallel_for.h>)
#define FRAME_HAVE_TBB 1
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#else
#define FRAME_HAVE_TBB 0
#endif

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int jobs = 1000;
  int frames = 300;
  unsigned workers = 2;
  int job_iterations = 0;  // 0: calibrated to --job-ns
  long job_ns = 450;
};

// One job: a dependent chain of multiply-xorshift steps (no memory traffic,
// not optimised away), writing its result to its own slot.
inline std::uint64_t job_work(std::uint64_t seed, int iterations) {
  std::uint64_t x = seed | 1;
  for (int i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x *= 0x9E3779B97F4A7C15ull;
  }
  return x;
}

struct frame_data {
  std::vector<std::uint64_t> out;
  int iterations = 0;
  void job(int i) {
    out[static_cast<std::size_t>(i)] = job_work(static_cast<std::uint64_t>(i) + out.size(), iterations);
  }
};

int calibrate(long job_ns) {
  int it = 64;
  for (;;) {
    std::uint64_t sink = 0;
    auto t0 = clock_type::now();
    for (int k = 0; k < 2000; ++k) sink += job_work(static_cast<std::uint64_t>(k), it);
    double ns = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / 2000;
    if (sink == 42) std::puts("");
    if (ns >= static_cast<double>(job_ns) || it > (1 << 20)) return std::max(1, static_cast<int>(it * job_ns / ns));
    it *= 2;
  }
}

struct row {
  std::string name;
  double median_ms = 0, p90_ms = 0;
};

// Runs `frame` opts.frames times (after 20 warm-up frames); frame times in ms.
row measure(const std::string& name, const options& o, const std::function<void()>& frame) {
  for (int i = 0; i < 20; ++i) frame();
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(o.frames));
  for (int f = 0; f < o.frames; ++f) {
    auto t0 = clock_type::now();
    frame();
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {name, ms[ms.size() / 2], ms[ms.size() * 9 / 10]};
}

void usage_error(const char* what, const char* value) {
  std::fprintf(stderr, "frame_jobs: %s: %s\nusage: frame_jobs [--jobs N] [--frames N] [--workers W] [--job-ns NS]\n",
               what, value);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage_error("missing value or unknown option", argv[i]);
    char* end = nullptr;
    long v = std::strtol(argv[i + 1], &end, 10);
    if (!end || *end || v <= 0) usage_error("not a positive number", argv[i + 1]);
    if (a == "--jobs")
      o.jobs = static_cast<int>(v);
    else if (a == "--frames")
      o.frames = static_cast<int>(v);
    else if (a == "--workers")
      o.workers = static_cast<unsigned>(v);
    else if (a == "--job-ns")
      o.job_ns = v;
    else
      usage_error("unknown option", argv[i]);
    ++i;
  }
  return o;
}

// The frame loop runs inside a fiber, as an engine built on jiffy runs its
// main loop; runtime::parallel_for from the main thread adds a block_on (a
// fiber start and a worker wake-up) per frame, shown as its own row.
void add_jiffy_rows(std::vector<row>& rows, const options& o, frame_data& d, unsigned workers) {
  jiffy::runtime rt({.workers = workers});
  std::string on = " (" + std::to_string(workers) + (workers == 1 ? " worker)" : " workers)");
  rt.block_on([&] {
    rows.push_back(
        measure("jiffy parallel_for" + on, o, [&] { jiffy::parallel_for(0, o.jobs, [&](int i) { d.job(i); }); }));
    rows.push_back(measure("jiffy spawn+wait_group" + on, o, [&] {
      jiffy::wait_group wg(o.jobs);
      for (int i = 0; i < o.jobs; ++i)
        jiffy::spawn([&, i] {
          d.job(i);
          wg.done();
        }).detach();
      wg.wait();
    }));
  });
  rows.push_back(measure("jiffy runtime::parallel_for from the main thread" + on, o,
                         [&] { rt.parallel_for(0, o.jobs, [&](int i) { d.job(i); }); }));
}

#if FRAME_HAVE_TBB
void add_tbb_rows(std::vector<row>& rows, const options& o, frame_data& d, unsigned threads) {
  tbb::task_arena arena(static_cast<int>(threads));
  std::string on = " (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
  rows.push_back(measure("oneTBB parallel_for" + on, o, [&] {
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<int>(0, o.jobs), [&](const tbb::blocked_range<int>& r) {
        for (int i = r.begin(); i < r.end(); ++i) d.job(i);
      });
    });
  }));
  rows.push_back(measure("oneTBB task_group" + on, o, [&] {
    arena.execute([&] {
      tbb::task_group g;
      for (int i = 0; i < o.jobs; ++i) g.run([&, i] { d.job(i); });
      g.wait();
    });
  }));
}
#endif

const row* find(const std::vector<row>& rows, const std::string& name) {
  for (const row& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

void ratio_line(const std::vector<row>& rows, const std::string& a, const std::string& b, double target,
                const char* what) {
  const row* x = find(rows, a);
  const row* y = find(rows, b);
  if (!x || !y) return;
  double r = x->median_ms / y->median_ms;
  std::printf("- %s: %s / %s = %.2f (target <= %.2f: %s)\n", what, a.c_str(), b.c_str(), r, target,
              r <= target ? "met" : "NOT met");
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  frame_data d;
  d.out.assign(static_cast<std::size_t>(o.jobs), 0);
  d.iterations = calibrate(o.job_ns);
  std::vector<row> rows;
  rows.push_back(measure("serial", o, [&] {
    for (int i = 0; i < o.jobs; ++i) d.job(i);
  }));
  const std::string w = std::to_string(o.workers);
  for (unsigned n : {1u, o.workers}) add_jiffy_rows(rows, o, d, n);
#if FRAME_HAVE_TBB
  for (unsigned n : {1u, o.workers}) add_tbb_rows(rows, o, d, n);
#endif
  std::printf("\nA frame of %d jobs of ~%ld ns each (%d iterations), %d frames per row; frame time in ms\n\n", o.jobs,
              o.job_ns, d.iterations, o.frames);
  std::printf("| row | median | p90 |\n|---|---:|---:|\n");
  for (const row& r : rows) std::printf("| %s | %.3f | %.3f |\n", r.name.c_str(), r.median_ms, r.p90_ms);
  std::printf("\n");
  const std::string pf = "jiffy parallel_for (" + w + " workers)";
  ratio_line(rows, pf, "serial", 0.6, "parallel_for vs serial");
  ratio_line(rows, pf, "oneTBB parallel_for (" + w + " threads)", 1.0, "parallel_for vs oneTBB parallel_for");
  ratio_line(rows, "jiffy spawn+wait_group (" + w + " workers)", "jiffy spawn+wait_group (1 worker)", 1.0 / 1.6,
             "spawn+wait_group, W workers vs 1 (>= 1.6x faster)");
  ratio_line(rows, pf, "jiffy parallel_for (1 worker)", 1.0 / 1.6, "parallel_for, W workers vs 1 (>= 1.6x faster)");
#if !FRAME_HAVE_TBB
  std::printf("- oneTBB rows skipped: <tbb/parallel_for.h> not found (Debian: libtbb-dev)\n");
#endif
  return 0;
}
