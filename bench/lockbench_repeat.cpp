// bench/lockbench_repeat.cpp — what `lockbench --repeat N` makes of a
// point's N runs, and the harness's cost that uncontended figures are read
// against.
//
// Each figure of the reported row is the median of that figure over the
// runs (a slow run disturbed by another process moves a median little and a
// mean a lot); the counts that must not be averaged away are summed
// (violations: one run that let two contenders in is a broken lock). The
// per-contender counts and the configuration come from the run whose
// throughput is nearest the median. The headline figures also get the
// median's 95% confidence interval, distribution-free (support/
// median_ci.hpp explains it and what it does with fewer than 6 runs).
//
// The harness's cost: the `empty` baseline (lock() and unlock() do nothing)
// measures the loop around every lock()+unlock() pair; the uncontended
// table shows each lock's figure with it subtracted. The empty row's median
// is subtracted as a constant: its own spread (a few hundredths of a ns) is
// far below any lock's.
#include "lockbench_tool.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace lockbench::tool {
namespace {

template <class Run, class F>
std::vector<double> figures(const std::vector<Run>& runs, F f) {
  std::vector<double> v;
  for (const Run& x : runs) v.push_back(static_cast<double>(f(x)));
  return v;
}

template <class Run, class F>
double median_of(const std::vector<Run>& runs, F f) {
  return bench::estimate_median(figures(runs, f)).median;
}

latency median_latency(const std::vector<result>& runs, latency result::*which) {
  latency l;
  l.count = static_cast<std::uint64_t>(median_of(runs, [&](const result& x) { return (x.*which).count; }));
  l.p50 = median_of(runs, [&](const result& x) { return (x.*which).p50; });
  l.p99 = median_of(runs, [&](const result& x) { return (x.*which).p99; });
  l.p999 = median_of(runs, [&](const result& x) { return (x.*which).p999; });
  l.max = median_of(runs, [&](const result& x) { return (x.*which).max; });
  l.mean = median_of(runs, [&](const result& x) { return (x.*which).mean; });
  return l;
}

// The run whose throughput is nearest the median.
const result& typical_run(const std::vector<result>& runs, double median_throughput) {
  return *std::min_element(runs.begin(), runs.end(), [&](const result& a, const result& b) {
    return std::fabs(a.throughput - median_throughput) < std::fabs(b.throughput - median_throughput);
  });
}

result combine(const std::vector<result>& runs, const bench::median_estimate& throughput) {
  result r = typical_run(runs, throughput.median);
  r.throughput = throughput.median;
  r.seconds = median_of(runs, [](const result& x) { return x.seconds; });
  r.acquisitions = static_cast<std::uint64_t>(median_of(runs, [](const result& x) { return x.acquisitions; }));
  r.spread = median_of(runs, [](const result& x) { return x.spread; });
  r.preemptions = static_cast<std::uint64_t>(median_of(runs, [](const result& x) { return x.preemptions; }));
  r.acquire = median_latency(runs, &result::acquire);
  r.handoff = median_latency(runs, &result::handoff);
  r.cpu_ns_per_acquisition = median_of(runs, [](const result& x) { return x.cpu_ns_per_acquisition; });
  r.overhead_ns = median_of(runs, [](const result& x) { return x.overhead_ns; });
  r.violations = 0;
  for (const result& x : runs) r.violations += x.violations;
  return r;
}

uncontended_result combine(const std::vector<uncontended_result>& runs, const bench::median_estimate& best) {
  uncontended_result u;
  u.ns_best = best.median;
  u.ns_median = median_of(runs, [](const uncontended_result& x) { return x.ns_median; });
  u.ticks_best = median_of(runs, [](const uncontended_result& x) { return x.ticks_best; });
  u.ticks_median = median_of(runs, [](const uncontended_result& x) { return x.ticks_median; });
  for (const uncontended_result& x : runs) u.pairs += x.pairs;
  return u;
}

// Each counter's median over the runs (NaN stays NaN: unavailable).
std::vector<double> median_counters(const std::vector<std::vector<double>>& runs) {
  std::vector<double> medians;
  for (std::size_t i = 0; !runs.empty() && i < runs.front().size(); ++i) {
    std::vector<double> v;
    for (const std::vector<double>& run : runs) v.push_back(run[i]);
    medians.push_back(std::isnan(v.front()) ? v.front() : bench::estimate_median(v).median);
  }
  return medians;
}

}  // namespace

void summarise_runs(row& r) {
  if (r.uncontended) {
    r.headline = bench::estimate_median(figures(r.u_runs, [](const uncontended_result& x) { return x.ns_best; }));
    r.u = combine(r.u_runs, r.headline);
  } else {
    r.headline = bench::estimate_median(figures(r.r_runs, [](const result& x) { return x.throughput; }));
    r.acquire_p99 = bench::estimate_median(figures(r.r_runs, [](const result& x) { return x.acquire.p99; }));
    r.r = combine(r.r_runs, r.headline);
    r.counters = median_counters(r.counter_runs);
  }
}

void attach_harness_cost(std::vector<row>& rows) {
  for (row& r : rows) {
    if (!r.uncontended) continue;
    for (const row& e : rows)
      if (e.uncontended && e.section == r.section && std::strcmp(e.lock->name, "empty") == 0)
        r.harness_ns = e.u.ns_best;
  }
}

}  // namespace lockbench::tool
