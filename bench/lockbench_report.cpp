// bench/lockbench_report.cpp — `lockbench`'s outputs: the tables on the
// terminal (the default), --csv (one header line, one line per
// measurement) and --json, and the report of broken locks.
#include "lockbench_tool.hpp"
#include "support/preempt_modes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace lockbench::tool {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

// A duration in ns, in the unit that suits it.
std::string human_time(double ns) {
  if (ns < 1e3) return fmt("%.0f ns", ns);
  if (ns < 1e6) return fmt(ns < 1e4 ? "%.2f us" : "%.1f us", ns / 1e3);
  if (ns < 1e9) return fmt(ns < 1e7 ? "%.2f ms" : "%.1f ms", ns / 1e6);
  return fmt("%.2f s", ns / 1e9);
}

std::string human_rate(double v) {
  if (v >= 1e6) return fmt("%.2f M", v / 1e6);
  if (v >= 1e3) return fmt("%.1f k", v / 1e3);
  return fmt("%.0f", v);
}

// "3 threads@cpu0", "4 fibers/1w full 200us". Appended piece by piece:
// GCC 12 at -O3 reports a false -Wrestrict on `"literal" + std::string`
// here (GCC bug 105329).
std::string contenders_label(const lockbench::contention& c) {
  std::string s = std::to_string(c.contenders);
  s.append(c.fibers ? " fiber" : " thread").append(c.contenders == 1 ? "" : "s");
  if (c.fibers) {
    s.append("/").append(std::to_string(c.workers)).append("w ").append(bench::mode_name(c.preempt));
    if (c.preempt != jiffy::preempt_mode::none) s.append(" ").append(std::to_string(c.quantum.count())).append("us");
  }
  if (c.pin_cpu >= 0) s.append("@cpu").append(std::to_string(c.pin_cpu));
  if (c.pin_cpu < 0 && !c.cpus.empty()) {
    s.append("@cpu");
    unsigned n = std::min<unsigned>(c.fibers ? c.workers : c.contenders, static_cast<unsigned>(c.cpus.size()));
    for (unsigned i = 0; i < n; ++i) s.append(i ? "," : "").append(std::to_string(c.cpus[i]));
  }
  return s;
}

// The contenders column: wide enough for every row's label (at least 27).
int contenders_width(const std::vector<const row*>& rows) {
  std::size_t w = 27;
  for (const row* r : rows) w = std::max(w, contenders_label(r->r.config).size());
  return static_cast<int>(w);
}

namespace {

bool repeated(const std::vector<const row*>& rows) {
  for (const row* r : rows)
    if (r->headline.n > 1) return true;
  return false;
}

// "[5.38, 5.47]" in the given format; "-" for a single run.
std::string interval(const bench::median_estimate& e, std::string (*format)(double)) {
  if (e.n < 2) return "-";
  std::string s = "[";  // appended: GCC 12's false -Wrestrict (see contenders_label)
  return s.append(format(e.lo)).append(", ").append(format(e.hi)).append("]");
}

std::string ns2(double ns) { return fmt("%.2f", ns); }

void print_repeat_note(const std::vector<const row*>& rows) {
  if (!repeated(rows)) return;
  const bench::median_estimate& e = rows.front()->headline;
  std::printf("figures: median of %zu runs; 95%% CI: distribution-free interval for that median (coverage %.1f%%%s)\n",
              e.n, 100 * e.coverage, e.n < 6 ? ": fewer than 6 runs cannot reach 95%" : "");
}

void print_header_line(std::FILE* out, const environment& e) {
  std::fprintf(out, "lockbench: %u cores; ticks: %s, %.3f per ns\n", lockbench::cores(), lockbench::tick_source(),
               lockbench::ticks_per_ns());
  std::fprintf(out, "machine: %s, %u logical CPUs (%u cores, %u package%s); %s; %s %s; jiffy %s\n", e.cpu_model.c_str(),
               e.logical_cpus, e.physical_cores, e.packages, e.packages == 1 ? "" : "s", e.kernel.c_str(),
               e.compiler.c_str(), e.build.c_str(), e.git_revision.c_str());
}

void print_uncontended_table(const std::vector<const row*>& rows) {
  bool ci = repeated(rows);
  std::printf("%-17s %-52s %5s %10s %s%10s %10s %10s\n", "lock", "type", "size", "ns best", ci ? "         95% CI" : "",
              "- empty", "ns median", "ticks best");
  for (const row* r : rows) {
    std::printf("%-17s %-52s %5zu %10.2f ", r->lock->name, r->lock->type, r->size, r->u.ns_best);
    if (ci) std::printf("%15s", interval(r->headline, ns2).c_str());
    std::printf("%10.2f %10.2f %10.1f\n", r->u.ns_best - r->harness_ns, r->u.ns_median, r->u.ticks_best);
  }
  std::printf(
      "ns best: the fastest batch of 10,000 pairs; - empty: the same with the harness's own cost (the `empty` row, "
      "%.2f ns) subtracted\n",
      rows.front()->harness_ns);
  print_repeat_note(rows);
}

// Two rows per lock: measured on one CPU after that CPU, then another, wrote
// the lock's line; the second says what moving the line cost.
void print_line_move_table(const std::vector<const row*>& rows) {
  bool ci = repeated(rows);
  std::printf("%-17s %-20s %10s %s%10s %12s %14s\n", "lock", "line written last", "ns median",
              ci ? "         95% CI" : "", "ns best", "ticks median", "moved - same");
  const row* same = nullptr;
  for (const row* r : rows) {
    bool here = r->line_from == r->line_on;
    if (here) same = r;
    std::string who = "CPU ";  // appended: GCC 12's false -Wrestrict (see contenders_label)
    who.append(std::to_string(r->line_from)).append(here ? " (same CPU)" : "");
    std::printf("%-17s %-20s %10.2f ", r->lock->name, who.c_str(), r->u.ns_best);
    if (ci) std::printf("%15s", interval(r->headline, ns2).c_str());
    std::printf("%10.2f %12.1f", r->u.ns_median, r->u.ticks_median);
    if (!here && same && same->lock == r->lock) std::printf(" %+11.2f ns", r->u.ns_median - same->u.ns_median);
    std::printf("\n");
  }
  std::printf(
      "ns: one lock() each, timed with the counter reads around it (their cost is in both rows alike); median and "
      "best of %llu samples; moved - same: the medians' difference\n",
      static_cast<unsigned long long>(rows.front()->u.pairs));
  print_repeat_note(rows);
}

void print_contended_table(const std::vector<const row*>& rows) {
  bool ci = repeated(rows);
  int cw = contenders_width(rows);
  std::printf("%-16s %4s %-*s %7s %7s %9s %7s %9s %9s %9s %9s %9s %9s %7s%s\n", "lock", "size", cw, "contenders", "cs",
              "gap", "acq/s", "spread", "acq p50", "p99", "p99.9", "max", "handoff50", "handoff99", "preempt",
              ci ? "  acq/s 95% CI          p99 95% CI" : "");
  for (const row* r : rows) {
    const lockbench::result& x = r->r;
    std::string preempt = x.config.fibers ? std::to_string(x.preemptions) : "-";
    std::printf("%-16s %4zu %-*s %7s %7s %9s %6.1f%% %9s %9s %9s %9s %9s %9s %7s", r->lock->name, r->size, cw,
                contenders_label(x.config).c_str(), human_time(static_cast<double>(x.config.cs_ns)).c_str(),
                human_time(static_cast<double>(x.config.gap_ns)).c_str(), human_rate(x.throughput).c_str(),
                100 * x.spread, human_time(x.acquire.p50).c_str(), human_time(x.acquire.p99).c_str(),
                human_time(x.acquire.p999).c_str(), human_time(x.acquire.max).c_str(),
                x.handoff.count ? human_time(x.handoff.p50).c_str() : "-",
                x.handoff.count ? human_time(x.handoff.p99).c_str() : "-", preempt.c_str());
    if (ci)
      std::printf("  %-20s %-20s", interval(r->headline, human_rate).c_str(),
                  interval(r->acquire_p99, human_time).c_str());
    std::printf("\n");
  }
  print_repeat_note(rows);
}

const row* find_row(const std::vector<const row*>& rows, const char* lock) {
  for (const row* r : rows)
    if (std::strcmp(r->lock->name, lock) == 0) return r;
  return nullptr;
}

// "a / b = 1.23x (target <= 1.5x): met".
void print_ratio(const std::vector<const row*>& rows, const char* a, const char* b, double limit) {
  const row* ra = find_row(rows, a);
  const row* rb = find_row(rows, b);
  if (!ra || !rb) return;
  double ratio = ra->u.ns_best / rb->u.ns_best;
  std::printf("  %-12s / %-13s = %5.2fx  (target < %.2fx: %s)\n", a, b, ratio, limit,
              ratio < limit ? "met" : "NOT met");
}

void print_uncontended_targets(const std::vector<const row*>& rows) {
  std::printf("targets (best-batch ns ratios):\n");
  print_ratio(rows, "spinlock", "std_mutex", 1.0);
  print_ratio(rows, "spinlock", "pthread_spin", 1.0);
  print_ratio(rows, "spinlock", "ck_fas", 1.5);
  print_ratio(rows, "hp_spinlock", "ck_fas", 1.1);
  print_ratio(rows, "ticket", "ck_ticket", 1.5);
  print_ratio(rows, "mcs", "ck_mcs", 1.5);
}

// Integrated against holder-preemptible at the same configuration.
void print_lhp_targets(const std::vector<const row*>& rows) {
  std::printf("integrated vs holder_preemptible (target: p99 acquisition latency >= 10x lower):\n");
  const char* pairs[][2] = {{"spinlock", "hp_spinlock"}, {"ticket", "hp_ticket"}, {"mcs", "hp_mcs"}};
  for (auto& p : pairs) {
    const row* a = find_row(rows, p[0]);
    const row* b = find_row(rows, p[1]);
    if (!a || !b) continue;
    double ratio = b->r.acquire.p99 / std::max(a->r.acquire.p99, 1.0);
    std::printf("  %-9s p99 %9s vs %9s: %8.1fx lower (%s); max %9s vs %9s; throughput %.2fx\n", p[0],
                human_time(a->r.acquire.p99).c_str(), human_time(b->r.acquire.p99).c_str(), ratio,
                ratio >= 10 ? "met" : "NOT met", human_time(a->r.acquire.max).c_str(),
                human_time(b->r.acquire.max).c_str(), a->r.throughput / std::max(b->r.throughput, 1e-9));
  }
}

void print_convoy_summary(const std::vector<const row*>& rows) {
  std::printf("mean time between acquisitions (1 / throughput):\n");
  for (const row* r : rows)
    std::printf("  %-10s %-*s %9s\n", r->lock->name, contenders_width(rows), contenders_label(r->r.config).c_str(),
                human_time(r->r.throughput > 0 ? 1e9 / r->r.throughput : 0).c_str());
}

// CPU time per acquisition, overhead and the perf counters, per row.
void print_cost_table(const std::vector<const row*>& rows, const std::vector<std::string>& counters) {
  std::printf("cost per acquisition (process CPU time over the window / acquisitions; overhead: less cs and gap):\n");
  int cw = contenders_width(rows);
  std::printf("  %-16s %-*s %10s %10s", "lock", cw, "contenders", "cpu/acq", "overhead");
  for (const std::string& name : counters) std::printf(" %16s", name.c_str());
  std::printf("\n");
  for (const row* r : rows) {
    std::printf("  %-16s %-*s %10s %10s", r->lock->name, cw, contenders_label(r->r.config).c_str(),
                human_time(r->r.cpu_ns_per_acquisition).c_str(), human_time(r->r.overhead_ns).c_str());
    for (std::size_t i = 0; i < counters.size(); ++i)
      std::printf(" %16s",
                  i < r->counters.size() && !std::isnan(r->counters[i]) ? fmt("%.3f", r->counters[i]).c_str() : "-");
    std::printf("\n");
  }
}

void print_section(const std::string& title, const std::vector<const row*>& rows,
                   const std::vector<std::string>& counters) {
  std::printf("\n== %s ==\n", title.c_str());
  if (rows.front()->line_from >= 0) {
    print_line_move_table(rows);
  } else if (rows.front()->uncontended) {
    print_uncontended_table(rows);
    if (rows.front()->scenario == "uncontended") print_uncontended_targets(rows);
  } else {
    print_contended_table(rows);
    print_cost_table(rows, counters);
    print_workload_table(rows);
    if (rows.front()->scenario == "lock-holder-preemption") print_lhp_targets(rows);
  }
}

}  // namespace

void print_tables(const std::vector<row>& rows, const environment& env, const std::vector<std::string>& counters) {
  print_header_line(stdout, env);
  std::vector<const row*> section;
  std::vector<const row*> convoy;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    section.push_back(&rows[i]);
    if (rows[i].scenario == "convoy") convoy.push_back(&rows[i]);
    if (i + 1 == rows.size() || rows[i + 1].section != rows[i].section) {
      print_section(rows[i].section, section, counters);
      section.clear();
    }
  }
  if (!convoy.empty()) print_convoy_summary(convoy);
}

// A lock that let two contenders in at once is reported however quiet.
bool report_violations(const std::vector<row>& rows) {
  bool any = false;
  for (const row& r : rows) {
    if (r.uncontended || !r.r.violations) continue;
    any = true;
    std::fprintf(stderr, "lockbench: BROKEN LOCK: %s let another contender into %llu critical sections (%s)\n",
                 r.lock->name, static_cast<unsigned long long>(r.r.violations), contenders_label(r.r.config).c_str());
  }
  return any;
}

// --------------------------------------------------------------- csv ----

namespace {
double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}
}  // namespace

void print_csv(const std::vector<row>& rows, const std::vector<std::string>& counters) {
  std::printf(
      "scenario,lock,size,kind,contenders,workers,preempt,quantum_us,pin_cpu,cs_ns,gap_ns,seconds,acquisitions,"
      "throughput,spread,acq_p50_ns,acq_p99_ns,acq_p999_ns,acq_max_ns,acq_mean_ns,handoffs,handoff_p50_ns,"
      "handoff_p99_ns,handoff_p999_ns,handoff_max_ns,preemptions,uncontended_ns_best,uncontended_ns_median,"
      "uncontended_ticks_best,violations,per_contender,runs,throughput_ci_lo,throughput_ci_hi,acq_p99_ci_lo,"
      "acq_p99_ci_hi,uncontended_ns_best_ci_lo,uncontended_ns_best_ci_hi,uncontended_ns_minus_empty,achieved_cs_ns,"
      "achieved_gap_ns,cpu_ns_per_acquisition,overhead_ns,line_from_cpu,cs_lines");
  std::printf("%s", csv_workload_header());
  for (const std::string& name : counters) std::printf(",per_acquisition_%s", name.c_str());
  std::printf("\n");
  for (const row& r : rows) {
    std::printf("%s,%s,%zu,", r.scenario.c_str(), r.lock->name, r.size);
    if (r.uncontended) {
      // line-move rows: kind line-move, pin_cpu the CPU measured on, line_from_cpu the line's writer.
      bool moved = r.line_from >= 0;
      std::string on = moved ? std::to_string(r.line_on) : "", from = moved ? std::to_string(r.line_from) : "";
      std::printf("%s,1,,,,%s,,,,,,,,,,,,,,,,,,%.3f,%.3f,%.2f,,,%zu,,,,,%.3f,%.3f,%.3f,,,,,%s,",
                  moved ? "line-move" : "uncontended", on.c_str(), r.u.ns_best, r.u.ns_median, r.u.ticks_best,
                  r.headline.n, r.headline.lo, r.headline.hi, r.u.ns_best - r.harness_ns, from.c_str());
      std::printf("%s\n", std::string(counters.size() + 12, ',').c_str());  // the workload's 12, the counters
      continue;
    }
    const lockbench::result& x = r.r;
    const lockbench::contention& c = x.config;
    std::string per;
    for (std::uint64_t n : x.per_contender) {
      if (!per.empty()) per += ' ';
      per += std::to_string(n);
    }
    std::printf(
        "%s,%u,%u,%s,%lld,%d,%lld,%lld,%.4f,%llu,%.1f,%.4f,%.1f,%.1f,%.1f,%.1f,%.1f,%llu,%.1f,%.1f,%.1f,%.1f,"
        "%llu,,,,%llu,%s,%zu,%.1f,%.1f,%.1f,%.1f,,,,%.1f,%.1f,%.1f,%.1f",
        c.fibers ? "fibers" : "threads", c.contenders, c.fibers ? c.workers : 0,
        c.fibers ? bench::mode_name(c.preempt) : "", static_cast<long long>(c.fibers ? c.quantum.count() : 0),
        c.pin_cpu, static_cast<long long>(c.cs_ns), static_cast<long long>(c.gap_ns), x.seconds,
        static_cast<unsigned long long>(x.acquisitions), x.throughput, x.spread, x.acquire.p50, x.acquire.p99,
        x.acquire.p999, x.acquire.max, x.acquire.mean, static_cast<unsigned long long>(x.handoff.count), x.handoff.p50,
        x.handoff.p99, x.handoff.p999, x.handoff.max, static_cast<unsigned long long>(x.preemptions),
        static_cast<unsigned long long>(x.violations), per.c_str(), r.headline.n, r.headline.lo, r.headline.hi,
        r.acquire_p99.lo, r.acquire_p99.hi, mean_of(x.achieved_cs_ns), mean_of(x.achieved_gap_ns),
        x.cpu_ns_per_acquisition, x.overhead_ns);
    std::printf(",,%u", c.cs_lines);  // line_from_cpu, cs_lines
    csv_workload(x);
    for (double v : r.counters) std::printf(std::isnan(v) ? "," : ",%.4f", v);
    std::printf("\n");
  }
}

// --------------------------------------------------------------- json ----

namespace {

void json_latency(const char* key, const lockbench::latency& l) {
  std::printf(
      ", \"%s\": {\"count\": %llu, \"p50_ns\": %.1f, \"p99_ns\": %.1f, \"p999_ns\": %.1f, \"max_ns\": %.1f, "
      "\"mean_ns\": %.1f}",
      key, static_cast<unsigned long long>(l.count), l.p50, l.p99, l.p999, l.max, l.mean);
}

// A JSON string: quotes, backslashes and control characters escaped.
std::string json_string(const std::string& s) {
  std::string out(1, '"');
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out.append(1, '\\').append(1, ch);
    else if (static_cast<unsigned char>(ch) < 0x20)
      out += fmt("\\u%04x", static_cast<unsigned char>(ch));
    else
      out += ch;
  }
  return out.append(1, '"');
}

// "key": [1.5, 2.25, ...]: one figure of every run.
template <class Run, class F>
void json_samples(const char* key, const std::vector<Run>& runs, F f, bool first) {
  std::printf("%s\"%s\": [", first ? "" : ", ", key);
  for (std::size_t i = 0; i < runs.size(); ++i) std::printf("%s%.6g", i ? ", " : "", static_cast<double>(f(runs[i])));
  std::printf("]");
}

void json_interval(const char* key, const bench::median_estimate& e) {
  std::printf(", \"%s\": [%.4g, %.4g]", key, e.lo, e.hi);
}

// The runs' count, the headline intervals and every run's figures.
void json_repeats(const row& r) {
  std::printf(", \"runs\": %zu, \"ci_coverage\": %.4f", r.headline.n, r.headline.coverage);
  if (r.uncontended) {
    json_interval("ns_best_ci", r.headline);
    std::printf(", \"ns_minus_empty\": %.3f, \"samples\": {", r.u.ns_best - r.harness_ns);
    json_samples(
        "ns_best", r.u_runs, [](const lockbench::uncontended_result& x) { return x.ns_best; }, true);
  } else {
    json_interval("throughput_ci", r.headline);
    json_interval("acq_p99_ci", r.acquire_p99);
    std::printf(", \"samples\": {");
    json_samples(
        "throughput", r.r_runs, [](const lockbench::result& x) { return x.throughput; }, true);
    json_samples(
        "acq_p50_ns", r.r_runs, [](const lockbench::result& x) { return x.acquire.p50; }, false);
    json_samples(
        "acq_p99_ns", r.r_runs, [](const lockbench::result& x) { return x.acquire.p99; }, false);
    json_samples(
        "handoff_p50_ns", r.r_runs, [](const lockbench::result& x) { return x.handoff.p50; }, false);
  }
  std::printf("}");
}

// , "key": [1.5, 2.25, ...].
void json_numbers(const char* key, const std::vector<double>& v) {
  std::printf(", \"%s\": [", key);
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%.1f", i ? ", " : "", v[i]);
  std::printf("]");
}

// "counters_per_acquisition": {"context-switches": 0.0012, ...}: the
// available ones.
void json_counters(const row& r, const std::vector<std::string>& names) {
  if (r.uncontended || names.empty()) return;
  std::printf(", \"counters_per_acquisition\": {");
  bool first = true;
  for (std::size_t i = 0; i < names.size() && i < r.counters.size(); ++i) {
    if (std::isnan(r.counters[i])) continue;
    std::printf("%s\"%s\": %.6g", first ? "" : ", ", names[i].c_str(), r.counters[i]);
    first = false;
  }
  std::printf("}");
}

void json_environment(const environment& e) {
  std::printf(
      "\"environment\": {\"cpu_model\": %s, \"logical_cpus\": %u, \"physical_cores\": %u, \"packages\": %u, "
      "\"kernel\": %s, \"compiler\": %s, \"build\": %s, \"git_revision\": %s, \"governor\": %s, \"turbo\": %s, "
      "\"loadavg_before\": %.2f, \"loadavg_after\": %.2f, \"others_busy\": %.4f, \"steal\": %.4f, \"warnings\": [",
      json_string(e.cpu_model).c_str(), e.logical_cpus, e.physical_cores, e.packages, json_string(e.kernel).c_str(),
      json_string(e.compiler).c_str(), json_string(e.build).c_str(), json_string(e.git_revision).c_str(),
      json_string(e.governor).c_str(), json_string(e.turbo).c_str(), e.loadavg_before, e.loadavg_after, e.others_busy,
      e.steal);
  for (std::size_t i = 0; i < e.warnings.size(); ++i)
    std::printf("%s%s", i ? ", " : "", json_string(e.warnings[i]).c_str());
  std::printf("], \"counters_unavailable\": {");
  for (std::size_t i = 0; i < e.counters_unavailable.size(); ++i)
    std::printf("%s\"%s\": %s", i ? ", " : "", e.counters_unavailable[i].first.c_str(),
                json_string(e.counters_unavailable[i].second).c_str());
  std::printf("}}");
}

void json_ints(const char* name, const std::vector<int>& v) {
  std::printf(", \"%s\": [", name);
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%d", i ? ", " : "", v[i]);
  std::printf("]");
}

void json_contended(const lockbench::result& x) {
  const lockbench::contention& c = x.config;
  std::printf(", \"kind\": \"%s\", \"contenders\": %u", c.fibers ? "fibers" : "threads", c.contenders);
  if (c.fibers)
    std::printf(", \"workers\": %u, \"preempt\": \"%s\", \"quantum_us\": %lld", c.workers, bench::mode_name(c.preempt),
                static_cast<long long>(c.quantum.count()));
  std::printf(
      ", \"pin_cpu\": %d, \"cs_ns\": %lld, \"gap_ns\": %lld, \"seconds\": %.4f, \"acquisitions\": %llu, "
      "\"throughput\": %.1f, \"spread\": %.4f, \"preemptions\": %llu, \"violations\": %llu, "
      "\"per_contender\": [",
      c.pin_cpu, static_cast<long long>(c.cs_ns), static_cast<long long>(c.gap_ns), x.seconds,
      static_cast<unsigned long long>(x.acquisitions), x.throughput, x.spread,
      static_cast<unsigned long long>(x.preemptions), static_cast<unsigned long long>(x.violations));
  for (std::size_t i = 0; i < x.per_contender.size(); ++i)
    std::printf("%s%llu", i ? ", " : "", static_cast<unsigned long long>(x.per_contender[i]));
  std::printf("]");
  std::printf(", \"cs_lines\": %u, \"cs_line_writes\": %llu", c.cs_lines,
              static_cast<unsigned long long>(x.cs_line_writes));
  json_workload(x);
  json_ints("cpus", c.pin_cpu >= 0 ? std::vector<int>{} : c.cpus);
  json_ints("cpu_requested", x.cpu_requested);
  json_ints("cpu_start", x.cpu_start);
  json_ints("cpu_end", x.cpu_end);
  json_numbers("achieved_cs_ns", x.achieved_cs_ns);
  json_numbers("achieved_gap_ns", x.achieved_gap_ns);
  std::printf(", \"cpu_ns_per_acquisition\": %.1f, \"overhead_ns\": %.1f", x.cpu_ns_per_acquisition, x.overhead_ns);
  json_latency("acquire", x.acquire);
  json_latency("handoff", x.handoff);
}

}  // namespace

void print_json(const std::vector<row>& rows, const options& o, const environment& env) {
  std::printf(
      "{\"tool\": \"lockbench\", \"cores\": %u, \"tick_source\": \"%s\", \"ticks_per_ns\": %.4f, "
      "\"command_line\": %s, \"repeat\": %u, \"seed\": %llu, ",
      lockbench::cores(), lockbench::tick_source(), lockbench::ticks_per_ns(), json_string(o.command_line).c_str(),
      o.repeat, static_cast<unsigned long long>(o.seed));
  json_environment(env);
  std::printf(", \"results\": [");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    std::printf("%s\n  {\"scenario\": \"%s\", \"lock\": \"%s\", \"type\": \"%s\", \"size\": %zu", i ? "," : "",
                r.scenario.c_str(), r.lock->name, r.lock->type, r.size);
    if (r.line_from >= 0)
      std::printf(", \"kind\": \"line-move\", \"on_cpu\": %d, \"from_cpu\": %d", r.line_on, r.line_from);
    if (r.uncontended)
      std::printf(
          "%s, \"ns_best\": %.3f, \"ns_median\": %.3f, \"ticks_best\": %.2f, "
          "\"ticks_median\": %.2f, \"pairs\": %llu",
          r.line_from >= 0 ? "" : ", \"kind\": \"uncontended\"", r.u.ns_best, r.u.ns_median, r.u.ticks_best,
          r.u.ticks_median, static_cast<unsigned long long>(r.u.pairs));
    else
      json_contended(r.r);
    json_counters(r, o.counters);
    json_repeats(r);
    std::printf("}");
  }
  std::printf("\n]}\n");
}

}  // namespace lockbench::tool
