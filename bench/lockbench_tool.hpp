// bench/lockbench_tool.hpp — what the parts of the `lockbench` program share
// (the measurements themselves are lockbench.hpp's). One file per concern:
//
//   lockbench.cpp            main: plans the run, measures every point, prints
//   lockbench_locks.cpp      the registry of locks and the named groups
//   lockbench_roster.cpp     the roster from the literature (bench/locks/) and
//                            the locks of oneTBB, Abseil and glibc
//   lockbench_options.cpp    the command line and --help
//   lockbench_scenarios.cpp  the scenario presets, and the points they expand to
//   lockbench_placement.cpp  --cpus, --placement and --from-cpu: where contenders run
//   lockbench_workload.cpp   --lock-count, --readers, --trylock, --cs-dist, long holds
//                            (lockbench_loop.hpp runs them)
//   lockbench_repeat.cpp     --repeat: the median of a point's runs, its interval
//   lockbench_env.cpp        the machine and build, recorded and checked
//   lockbench_counters.cpp   --counters: perf counters per acquisition
//   lockbench_report.cpp     the table, --csv and --json outputs
//   lockbench_svg.cpp        the --svg plot
//   lockbench_ck.c           Concurrency Kit's locks behind a small C interface
#pragma once

#include "lockbench.hpp"
#include "lockbench_line_move.hpp"
#include "support/cli.hpp"
#include "support/median_ci.hpp"
#include "support/perf_counters.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifndef JIFFY_LOCKBENCH_HAVE_CK
#define JIFFY_LOCKBENCH_HAVE_CK 0
#endif
#ifndef JIFFY_LOCKBENCH_HAVE_TBB
#define JIFFY_LOCKBENCH_HAVE_TBB 0
#endif
#ifndef JIFFY_LOCKBENCH_HAVE_ABSL
#define JIFFY_LOCKBENCH_HAVE_ABSL 0
#endif

namespace lockbench::tool {

// ------------------------------------------------------------ the locks ----

struct lock_entry {
  const char* name;    // on the command line
  const char* type;    // what it is
  bool blocks_thread;  // waits in the OS: unusable on fibers under `full` preemption
  std::size_t (*size)();
  uncontended_result (*uncontended)(std::chrono::milliseconds);
  result (*contended)(const contention&);
  uncontended_result (*line_move)(int from, int on, std::chrono::milliseconds);  // lockbench_line_move.hpp
  unsigned max_contenders;  // 0: any number; else more would break it (an array lock's slots)
  bool baseline;            // not a lock (empty, fetch_add): measured uncontended only
  read_side reads;          // --readers: its read side, if any
  bool has_try_lock;        // --trylock: whether it has one
};

// The entry for Lock: its measurements, and max_contenders() if it has one.
template <class Lock>
lock_entry make_entry(const char* name, const char* type, bool blocks_thread = false, bool baseline = false) {
  unsigned max = 0;
  if constexpr (requires { Lock::max_contenders(); }) max = Lock::max_contenders();
  return {name,
          type,
          blocks_thread,
          &lockbench::lock_size<Lock>,
          &lockbench::measure_uncontended<Lock>,
          &lockbench::measure<Lock>,
          &lockbench::measure_line_move<Lock>,
          max,
          baseline,
          detail::read_side_of<detail::handle_of<Lock>>(),
          detail::has_try_lock<detail::handle_of<Lock>>};
}

const std::vector<lock_entry>& all_locks();
const lock_entry* find_lock(const std::string& name);  // nullptr: no such lock (or not built)
// Why a lock lockbench knows is not built ("built without oneTBB (Debian:
// libtbb-dev)"); empty if it is built or unknown.
std::string why_not_built(const std::string& name);
std::vector<std::string> unbuilt_locks();  // the names of those
// lockbench_roster.cpp: the roster (bench/locks/) and the libraries' locks
// that were found at build time.
std::vector<lock_entry> roster_locks();
std::vector<lock_entry> library_locks();
std::vector<std::string> lock_group(const std::string& group);  // empty: no such group
std::string valid_lock_names();                                 // for messages: names and groups

// ---------------------------------------------------------- environment ----

// The machine and build a run measured (lockbench_env.cpp says where each
// comes from), and what in it makes the figures doubtful.
struct environment {
  std::string cpu_model, kernel, compiler, build, git_revision, governor, turbo;
  unsigned logical_cpus = 0, physical_cores = 0, packages = 0;
  double loadavg_before = -1, loadavg_after = -1;
  double others_busy = -1;  // other processes' share of all CPUs' time during the run; < 0: unknown
  double steal = -1;        // the hypervisor's share (steal time); < 0: unknown
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> counters_unavailable;  // --counters: name, why
};

// Reads the machine when a run starts and the load it saw when it ends.
class machine_watch {
 public:
  environment start();
  void finish(environment& e) const;  // load, steal and the warnings

 private:
  bool sampled_ = false;
  double busy0_ = 0, steal0_ = 0, own0_ = 0;
  std::chrono::steady_clock::time_point wall0_{};
};

void print_warnings(const environment& e);  // on stderr

// -------------------------------------------------------------- options ----

// The workload options, as given (lockbench_workload.cpp parses, checks
// and reports them; lockbench_loop.hpp runs them).
struct workload_options {
  std::optional<unsigned> lock_count;                 // --lock-count K
  std::optional<lockbench::lock_choice> choice;       // --lock-choice striped|random
  std::optional<unsigned> readers_pct;                // --readers P
  bool trylock = false;                               // --trylock
  std::optional<lockbench::cs_distribution> cs_dist;  // --cs-dist fixed|uniform|exponential
  std::optional<std::uint64_t> long_hold_every;       // --long-hold-every N
  std::optional<std::int64_t> long_hold_ns;           // --long-hold-us U, in ns
  // The first of them given, as on the command line ("" if none).
  std::string first_given() const;
};

struct options {
  std::string scenario = "custom";
  std::optional<std::vector<std::string>> locks;
  std::vector<std::string> named_locks;  // the locks --locks named one by one (not through a group)
  workload_options work;
  std::optional<std::vector<unsigned>> threads, fibers, workers;
  std::optional<std::vector<jiffy::preempt_mode>> preempts;
  std::optional<std::chrono::microseconds> quantum;
  std::optional<std::vector<std::int64_t>> cs, gap;
  std::optional<unsigned> cs_lines;  // cache lines written in each critical section
  std::optional<std::chrono::milliseconds> duration;
  std::optional<int> pin_cpu;
  std::optional<std::vector<int>> cpus;  // --cpus, or --placement's order of the allowed CPUs
  std::string placement;                 // --placement's name ("" if not given)
  std::optional<int> from_cpu;           // line-move: the CPU that writes the lock's line
  bench::output_format out = bench::output_format::text;
  std::string svg, svg_title;  // --svg FILE and --svg-title TEXT
  bool svg_log = false, progress = false, quiet = false;
  std::vector<std::string> counters;  // perf counters to count per acquisition (--counters)
  unsigned repeat = 1;                // runs of each point
  std::uint64_t seed = 0;             // of the order shuffle; 0: drawn at random
  std::string command_line;           // as given, for the JSON
};

// Exits with status 2 (and a message naming the option) on a bad one.
options parse_args(int argc, char** argv);

// ------------------------------------------------------------ scenarios ----

// A scenario is a list of sweeps; a sweep is locks x contender counts x
// (workers x preemption models, for fibers) x critical-section lengths x
// gaps.
struct sweep {
  std::string scenario, title;
  std::vector<std::string> locks{};
  bool uncontended = false;
  bool fibers = false;
  std::vector<unsigned> counts{};
  std::vector<unsigned> workers{1};
  std::vector<jiffy::preempt_mode> preempts{jiffy::preempt_mode::none};
  std::chrono::microseconds quantum{1000};
  std::vector<std::int64_t> cs{50}, gap{200};
  unsigned cs_lines = 0;
  workload_options work{};
  std::uint64_t seed = 1;  // of the workload's random choices
  std::chrono::milliseconds duration{50};
  int pin_cpu = -1;
  std::vector<int> cpus{};  // per contender thread (or worker), wrapping round
  // line-move: each lock measured on CPU `on` after CPU `on`, then CPU
  // `from`, wrote its line (lockbench_line_move.hpp).
  bool line_move = false;
  int on = -1, from = -1;
};

// A measurement point of a sweep: one lockbench::measure() run.
struct point {
  const sweep* from;
  const lock_entry* lock;
  contention c;
  int line_from = -1;  // line-move: the CPU that wrote the line last (c.pin_cpu measures)
};

// The scenario's sweeps with the options' overrides applied.
std::vector<sweep> plan(const options& o);

// Why an option given does not apply to the scenario (--fibers to one that
// runs no fibers...); empty if all do.
std::string inapplicable_option(const options& o);

// lockbench_workload.cpp: the workload options. parse_workload_option()
// takes the option `a` is at, if it is one of them (true); after all
// options, check_workload() exits 2 naming a bad combination or a lock
// --locks named that cannot run the workload. apply_workload() puts a
// sweep's workload into a point's contention; why_not_workload() says why a
// lock cannot run it (a lock from a group is skipped with that note).
bool parse_workload_option(bench::cli::args& a, options& o);
void check_workload(const bench::cli::args& a, const options& o);
void apply_workload(const sweep& s, lockbench::contention& c);
std::string why_not_workload(const lock_entry& e, const sweep& s);
std::string workload_title(const workload_options& w);  // ", 4 locks (random), 20% readers" ("" if none)

// lockbench_placement.cpp: --cpus LIST and --placement NAME, checked
// against the affinity mask (exit 2 naming a bad one); and where
// line-move measures (on) and from where it moves the line (from), -1 for
// none (a note on stderr says why).
std::vector<int> cpu_list(bench::cli::args& a);
std::vector<int> placement_cpus(bench::cli::args& a, std::string& name);
void line_move_cpus(const options& o, int& on, int& from);

// Every point of the sweeps, in order. Locks that were not built or cannot
// run in a configuration are skipped, with a note on stderr unless `quiet`.
std::vector<point> points_of(const std::vector<sweep>& sweeps, bool quiet);

// ------------------------------------------------------------- results ----

// One measurement point's figures. With --repeat N the point ran N times:
// u and r then hold the median of each figure over the runs (violations
// summed: one broken run is a broken lock), the runs themselves are kept,
// and `headline` (uncontended: ns_best; contended: throughput) and
// `acquire_p99` carry the median's 95% interval (support/median_ci.hpp).
struct row {
  std::string scenario, section;
  const lock_entry* lock = nullptr;
  std::size_t size = 0;
  bool uncontended = false;
  int line_on = -1, line_from = -1;  // line-move rows: where measured, who wrote the line last
  uncontended_result u{};
  result r{};
  std::vector<uncontended_result> u_runs{};
  std::vector<result> r_runs{};
  bench::median_estimate headline{}, acquire_p99{};
  double harness_ns = 0;  // uncontended: the `empty` baseline's ns_best in the same sweep (0 if none)
  // --counters: each run's counts per acquisition ([run][counter], in
  // options::counters' order; NaN where unavailable), and their medians.
  std::vector<std::vector<double>> counter_runs{};
  std::vector<double> counters{};
};

// ------------------------------------------------------------ counters ----

// Perf counters (support/perf_counters.hpp) opened for one contended run,
// counting its measured window only (lockbench_counters.cpp).
class counter_set final : public lockbench::measure_hooks {
 public:
  explicit counter_set(const std::vector<std::string>& names);
  void start() override;
  void stop() override;
  // Counts per acquisition, in the order of `names`; NaN where unavailable.
  std::vector<double> per_acquisition(std::uint64_t acquisitions) const;

 private:
  std::vector<std::unique_ptr<bench::perf_counter>> counters_;
};

// Says on stderr (once, unless quiet) which requested counters this machine
// cannot count, and why; returns {name, why} for the JSON.
std::vector<std::pair<std::string, std::string>> unavailable_counters(const std::vector<std::string>& names,
                                                                      bool quiet);
std::string valid_counter_names();
bool is_counter_name(const std::string& name);

// Fills u/r, headline and acquire_p99 from the runs.
void summarise_runs(row& r);
// Sets harness_ns on every uncontended row from its sweep's `empty` row.
void attach_harness_cost(std::vector<row>& rows);

void print_tables(const std::vector<row>& rows, const environment& env, const std::vector<std::string>& counters);
// The workload's counts per row (reads, seqlock retries, try_lock failures,
// long holds), after a contended table whose rows ran a workload option;
// and their --json and --csv fields.
void print_workload_table(const std::vector<const row*>& rows);
void json_workload(const lockbench::result& x);
const char* csv_workload_header();
void csv_workload(const lockbench::result& x);
void print_csv(const std::vector<row>& rows, const std::vector<std::string>& counters);
void print_json(const std::vector<row>& rows, const options& o, const environment& env);
// Reports every lock that let two contenders in at once; true if any did.
bool report_violations(const std::vector<row>& rows);
// Says on stderr, for each contended row where a contender's CPU at the
// start or end of its measurement was not the one it asked for.
void report_misplaced(const std::vector<row>& rows);
// false if the file could not be written (errno says why).
bool write_svg(const std::string& path, const std::vector<row>& rows, const std::string& title, bool log);

// Formatting the report and the plot share.
std::string human_time(double ns);                          // a duration in ns, in the unit that suits it
std::string human_rate(double v);                           // 1.23 M, 4.5 k, 678
std::string contenders_label(const contention& c);          // "3 threads@cpu0", "4 fibers/1w full 200us"
int contenders_width(const std::vector<const row*>& rows);  // the column that holds those labels

}  // namespace lockbench::tool
