// bench/lockbench_report.cpp — `lockbench`'s outputs: the tables on the
// terminal (the default), --csv (one header line, one line per
// measurement) and --json, and the report of broken locks.
#include "lockbench_tool.hpp"
#include "support/preempt_modes.hpp"

#include <algorithm>
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
  return s;
}

namespace {

void print_header_line(std::FILE* out) {
  std::fprintf(out, "lockbench: %u cores; ticks: %s, %.3f per ns\n", lockbench::cores(), lockbench::tick_source(),
               lockbench::ticks_per_ns());
}

void print_uncontended_table(const std::vector<const row*>& rows) {
  std::printf("%-17s %-52s %5s %10s %10s %10s\n", "lock", "type", "size", "ns best", "ns median", "ticks best");
  for (const row* r : rows)
    std::printf("%-17s %-52s %5zu %10.2f %10.2f %10.1f\n", r->lock->name, r->lock->type, r->size, r->u.ns_best,
                r->u.ns_median, r->u.ticks_best);
}

void print_contended_table(const std::vector<const row*>& rows) {
  std::printf("%-16s %4s %-27s %7s %7s %9s %7s %9s %9s %9s %9s %9s %9s %7s\n", "lock", "size", "contenders", "cs",
              "gap", "acq/s", "spread", "acq p50", "p99", "p99.9", "max", "handoff50", "handoff99", "preempt");
  for (const row* r : rows) {
    const lockbench::result& x = r->r;
    std::string preempt = x.config.fibers ? std::to_string(x.preemptions) : "-";
    std::printf("%-16s %4zu %-27s %7s %7s %9s %6.1f%% %9s %9s %9s %9s %9s %9s %7s\n", r->lock->name, r->size,
                contenders_label(x.config).c_str(), human_time(static_cast<double>(x.config.cs_ns)).c_str(),
                human_time(static_cast<double>(x.config.gap_ns)).c_str(), human_rate(x.throughput).c_str(),
                100 * x.spread, human_time(x.acquire.p50).c_str(), human_time(x.acquire.p99).c_str(),
                human_time(x.acquire.p999).c_str(), human_time(x.acquire.max).c_str(),
                x.handoff.count ? human_time(x.handoff.p50).c_str() : "-",
                x.handoff.count ? human_time(x.handoff.p99).c_str() : "-", preempt.c_str());
  }
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
    std::printf("  %-10s %-27s %9s\n", r->lock->name, contenders_label(r->r.config).c_str(),
                human_time(r->r.throughput > 0 ? 1e9 / r->r.throughput : 0).c_str());
}

void print_section(const std::string& title, const std::vector<const row*>& rows) {
  std::printf("\n== %s ==\n", title.c_str());
  if (rows.front()->uncontended) {
    print_uncontended_table(rows);
    if (rows.front()->scenario == "uncontended") print_uncontended_targets(rows);
  } else {
    print_contended_table(rows);
    if (rows.front()->scenario == "lock-holder-preemption") print_lhp_targets(rows);
  }
}

}  // namespace

void print_tables(const std::vector<row>& rows) {
  print_header_line(stdout);
  std::vector<const row*> section;
  std::vector<const row*> convoy;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    section.push_back(&rows[i]);
    if (rows[i].scenario == "convoy") convoy.push_back(&rows[i]);
    if (i + 1 == rows.size() || rows[i + 1].section != rows[i].section) {
      print_section(rows[i].section, section);
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

void print_csv(const std::vector<row>& rows) {
  std::printf(
      "scenario,lock,size,kind,contenders,workers,preempt,quantum_us,pin_cpu,cs_ns,gap_ns,seconds,acquisitions,"
      "throughput,spread,acq_p50_ns,acq_p99_ns,acq_p999_ns,acq_max_ns,acq_mean_ns,handoffs,handoff_p50_ns,"
      "handoff_p99_ns,handoff_p999_ns,handoff_max_ns,preemptions,uncontended_ns_best,uncontended_ns_median,"
      "uncontended_ticks_best,violations,per_contender\n");
  for (const row& r : rows) {
    std::printf("%s,%s,%zu,", r.scenario.c_str(), r.lock->name, r.size);
    if (r.uncontended) {
      std::printf("uncontended,1,,,,,,,,,,,,,,,,,,,,,,%.3f,%.3f,%.2f,,\n", r.u.ns_best, r.u.ns_median, r.u.ticks_best);
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
        "%llu,,,,%llu,%s\n",
        c.fibers ? "fibers" : "threads", c.contenders, c.fibers ? c.workers : 0,
        c.fibers ? bench::mode_name(c.preempt) : "", static_cast<long long>(c.fibers ? c.quantum.count() : 0),
        c.pin_cpu, static_cast<long long>(c.cs_ns), static_cast<long long>(c.gap_ns), x.seconds,
        static_cast<unsigned long long>(x.acquisitions), x.throughput, x.spread, x.acquire.p50, x.acquire.p99,
        x.acquire.p999, x.acquire.max, x.acquire.mean, static_cast<unsigned long long>(x.handoff.count), x.handoff.p50,
        x.handoff.p99, x.handoff.p999, x.handoff.max, static_cast<unsigned long long>(x.preemptions),
        static_cast<unsigned long long>(x.violations), per.c_str());
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
  json_latency("acquire", x.acquire);
  json_latency("handoff", x.handoff);
}

}  // namespace

void print_json(const std::vector<row>& rows) {
  std::printf(
      "{\"tool\": \"lockbench\", \"cores\": %u, \"tick_source\": \"%s\", \"ticks_per_ns\": %.4f, "
      "\"results\": [",
      lockbench::cores(), lockbench::tick_source(), lockbench::ticks_per_ns());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const row& r = rows[i];
    std::printf("%s\n  {\"scenario\": \"%s\", \"lock\": \"%s\", \"type\": \"%s\", \"size\": %zu", i ? "," : "",
                r.scenario.c_str(), r.lock->name, r.lock->type, r.size);
    if (r.uncontended)
      std::printf(
          ", \"kind\": \"uncontended\", \"ns_best\": %.3f, \"ns_median\": %.3f, \"ticks_best\": %.2f, "
          "\"ticks_median\": %.2f, \"pairs\": %llu",
          r.u.ns_best, r.u.ns_median, r.u.ticks_best, r.u.ticks_median, static_cast<unsigned long long>(r.u.pairs));
    else
      json_contended(r.r);
    std::printf("}");
  }
  std::printf("\n]}\n");
}

}  // namespace lockbench::tool
