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

#include <cerrno>
#include <cstdio>
#include <cstring>
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

row measure_point(const point& p) {
  row r{.scenario = p.from->scenario, .section = p.from->title, .lock = p.lock, .size = p.lock->size()};
  if (p.from->uncontended) {
    r.uncontended = true;
    r.u = p.lock->uncontended(p.c.duration);
  } else {
    r.r = p.lock->contended(p.c);
  }
  return r;
}

std::vector<row> run(const std::vector<point>& points, const options& o) {
  progress bar(!o.quiet && (o.progress || isatty(STDERR_FILENO)), points.size());
  lockbench::ticks_per_ns();            // calibrate the clock
  (void)lockbench::burn_rounds_for(1);  // and the busy work, before the first point
  std::vector<row> rows;
  for (const point& p : points) {
    bar.step(p);
    rows.push_back(measure_point(p));
  }
  bar.finish();
  return rows;
}

void print(const std::vector<row>& rows, bench::output_format format) {
  if (format == bench::output_format::csv)
    print_csv(rows);
  else if (format == bench::output_format::json)
    print_json(rows);
  else
    print_tables(rows);
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  const std::vector<sweep> sweeps = plan(o);
  const std::vector<row> rows = run(points_of(sweeps, o.quiet), o);
  print(rows, o.out);
  std::string title = "lockbench " + o.scenario + ": throughput against contenders";
  if (!o.svg.empty() && !write_svg(o.svg, rows, title, o.svg_log)) {
    std::fprintf(stderr, "lockbench: cannot write %s: %s\n", o.svg.c_str(), std::strerror(errno));
    return 1;
  }
  return report_violations(rows) ? 3 : 0;
}
