// bench/lockbench.cpp — `lockbench`: what a lock costs, for every jiffy lock
// and the usual alternatives, on plain threads and on fibers.
//
// What: the measurements are lockbench.hpp's (uncontended lock+unlock in ns
// and ticks; throughput, fairness spread, acquisition and hand-off latency
// percentiles under contention). The program adds the registry of locks (each
// jiffy lock and its holder-preemptible twin from holder_preemptible.hpp,
// jiffy::mutex, std::mutex, std::shared_mutex, pthread_spinlock_t, and
// Concurrency Kit's fas/ticket/mcs spinlocks when built with them:
// lockbench_ck.c), the scenario presets, the command line, and the output: a
// table on the terminal, --csv, --json, and an SVG plot of throughput against
// contenders written by hand (--svg). Each of those is a file of its own: see
// lockbench_tool.hpp. This one runs them.
//
// How: a scenario is a list of sweeps; a sweep is locks x contender counts x
// (workers x preemption models, for fibers) x critical-section lengths x gaps,
// each point one lockbench::measure() run. Command-line options override the
// preset's values. Progress goes to stderr when it is a terminal.
#include "lockbench_tool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace lockbench::tool;

class progress {
 public:
  progress(bool on, std::size_t total) : on_(on), total_(total) {}
  void step(const point& p) {
    if (!on_) return;
    ++done_;
    std::fprintf(stderr, "\r\033[K[%zu/%zu] %s: %s, %u %s", done_, total_, p.from->scenario.c_str(), p.lock->name,
                 p.c.contenders,
                 p.from->uncontended ? "thread"
                 : p.c.fibers        ? "fibers"
                                     : "threads");
    std::fflush(stderr);
  }
  void finish() {
    if (on_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool on_;
  std::size_t total_, done_ = 0;
};

row empty_row(const point& p) {
  return {.scenario = p.from->scenario,
          .section = p.from->title,
          .lock = p.lock,
          .size = p.lock->size(),
          .uncontended = p.from->uncontended,
          .line_on = p.from->line_move ? p.c.pin_cpu : -1,
          .line_from = p.line_from};
}

// One run of the point into its row; contended runs count the requested
// perf counters over their measured window.
void measure_into(const point& p, row& r, const std::vector<std::string>& counter_names) {
  if (r.line_from >= 0) {
    r.u_runs.push_back(p.lock->line_move(r.line_from, r.line_on, p.c.duration));
    return;
  }
  if (r.uncontended) {
    r.u_runs.push_back(p.lock->uncontended(p.c.duration));
    return;
  }
  counter_set counters(counter_names);
  lockbench::contention c = p.c;
  if (!counter_names.empty()) c.hooks = &counters;
  r.r_runs.push_back(p.lock->contended(c));
  if (!counter_names.empty()) r.counter_runs.push_back(counters.per_acquisition(r.r_runs.back().acquisitions));
}

// The order of one repetition: as planned for a single run; shuffled for
// each of several, so that a slow spell of the machine (another process, a
// frequency change) does not always fall on the same locks.
std::vector<std::size_t> order_of(std::size_t n, unsigned repeat, std::mt19937_64& rng) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (repeat > 1) std::shuffle(order.begin(), order.end(), rng);
  return order;
}

std::vector<row> run(const std::vector<point>& points, const options& o) {
  progress bar(!o.quiet && (o.progress || isatty(STDERR_FILENO)), points.size() * o.repeat);
  lockbench::ticks_per_ns();            // calibrate the clock
  (void)lockbench::burn_rounds_for(1);  // and the busy work, before the first point
  std::vector<row> rows;
  for (const point& p : points) rows.push_back(empty_row(p));
  std::mt19937_64 rng(o.seed);
  for (unsigned rep = 0; rep < o.repeat; ++rep) {
    for (std::size_t i : order_of(points.size(), o.repeat, rng)) {
      bar.step(points[i]);
      measure_into(points[i], rows[i], o.counters);
    }
  }
  bar.finish();
  for (row& r : rows) summarise_runs(r);
  attach_harness_cost(rows);
  return rows;
}

void print(const std::vector<row>& rows, const options& o, const environment& env) {
  if (o.out == bench::output_format::csv)
    print_csv(rows, o.counters);
  else if (o.out == bench::output_format::json)
    print_json(rows, o, env);
  else
    print_tables(rows, env, o.counters);
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  const std::vector<sweep> sweeps = plan(o);
  const std::vector<point> points = points_of(sweeps, o.quiet);
  machine_watch watch;
  environment env = watch.start();
  env.counters_unavailable = unavailable_counters(o.counters, o.quiet);
  const std::vector<row> rows = run(points, o);
  watch.finish(env);
  if (!o.quiet) print_warnings(env);
  report_misplaced(rows);
  print(rows, o, env);
  std::string title = o.svg_title.empty() ? "lockbench " + o.scenario : o.svg_title;
  if (!o.svg.empty() && !write_svg(o.svg, rows, title, o.svg_log)) {
    std::fprintf(stderr, "lockbench: cannot write %s: %s\n", o.svg.c_str(), std::strerror(errno));
    return 1;
  }
  return report_violations(rows) ? 3 : 0;
}
