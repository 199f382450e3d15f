// bench/lockbench_workload.cpp — the workload options (--lock-count,
// --lock-choice, --readers, --trylock, --cs-dist, --long-hold-every,
// --long-hold-us): parsed, checked against each other and against the
// locks, put into each point, and reported. lockbench_loop.hpp runs them.
#include "lockbench_tool.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace lockbench::tool {
namespace {

using bench::cli::args;

const char* const choice_names[] = {"striped", "random"};
const char* const dist_names[] = {"fixed", "uniform", "exponential"};

const char* name_of(lockbench::lock_choice c) { return choice_names[static_cast<int>(c)]; }
const char* name_of(lockbench::cs_distribution d) { return dist_names[static_cast<int>(d)]; }

// The locks with the side a workload needs, for messages.
std::string locks_with(bool (*has)(const lock_entry&)) {
  std::string s;
  for (const lock_entry& e : all_locks())
    if (has(e)) s.append(s.empty() ? "" : ", ").append(e.name);
  return s;
}
bool has_read_side(const lock_entry& e) { return e.reads != lockbench::read_side::none; }
bool has_try(const lock_entry& e) { return e.has_try_lock && !e.baseline; }

// Why lock e cannot run workload w ("" if it can), and the option that asks.
std::string why_not(const lock_entry& e, const workload_options& w, const char** option = nullptr) {
  if (w.readers_pct.value_or(0) > 0 && !has_read_side(e)) {
    if (option) *option = "--readers";
    return "it has no read side";
  }
  if (w.trylock && !has_try(e)) {
    if (option) *option = "--trylock";
    return "it has no try_lock()";
  }
  return "";
}

}  // namespace

std::string workload_options::first_given() const {
  if (lock_count) return "--lock-count";
  if (choice) return "--lock-choice";
  if (readers_pct) return "--readers";
  if (trylock) return "--trylock";
  if (cs_dist) return "--cs-dist";
  if (long_hold_every) return "--long-hold-every";
  if (long_hold_ns) return "--long-hold-us";
  return "";
}

bool parse_workload_option(args& a, options& o) {
  workload_options& w = o.work;
  if (a.is("--lock-count"))
    w.lock_count = static_cast<unsigned>(a.integer(1, 4096));
  else if (a.is("--lock-choice"))
    w.choice = static_cast<lockbench::lock_choice>(a.choice(choice_names));
  else if (a.is("--readers"))
    w.readers_pct = static_cast<unsigned>(a.integer(0, 100));
  else if (a.is("--trylock"))
    w.trylock = true;
  else if (a.is("--cs-dist"))
    w.cs_dist = static_cast<lockbench::cs_distribution>(a.choice(dist_names));
  else if (a.is("--long-hold-every"))
    w.long_hold_every = static_cast<std::uint64_t>(a.integer(1, 1000000000));
  else if (a.is("--long-hold-us"))
    w.long_hold_ns = a.integer(1, 10000000) * 1000;
  else
    return false;
  return true;
}

void check_workload(const args& a, const options& o) {
  const workload_options& w = o.work;
  if (w.choice && w.lock_count.value_or(1) < 2)
    a.fail("--lock-choice: chooses among several locks; give --lock-count 2 or more");
  if (w.long_hold_every.has_value() != w.long_hold_ns.has_value())
    a.fail(std::string(w.long_hold_every ? "--long-hold-every" : "--long-hold-us") +
           ": a long hold needs both --long-hold-every N (how often) and --long-hold-us U (how much longer)");
  for (const std::string& name : o.named_locks) {
    const lock_entry* e = find_lock(name);
    if (!e || e->baseline) continue;  // baselines run uncontended only, with a note
    const char* option = "";
    if (std::string why = why_not(*e, w, &option); !why.empty()) {
      bool reads = std::string(option) == "--readers";
      a.fail(std::string(option) + ": lock '" + name + "' cannot run it: " + why + " (" + option + " runs on " +
             locks_with(reads ? has_read_side : has_try) + ")");
    }
  }
}

void apply_workload(const sweep& s, lockbench::contention& c) {
  const workload_options& w = s.work;
  c.lock_count = w.lock_count.value_or(1);
  c.choice = w.choice.value_or(lockbench::lock_choice::striped);
  c.readers_pct = w.readers_pct.value_or(0);
  c.trylock = w.trylock;
  c.cs_dist = w.cs_dist.value_or(lockbench::cs_distribution::fixed);
  c.long_hold_every = w.long_hold_every.value_or(0);
  c.long_hold_ns = w.long_hold_ns.value_or(0);
  c.seed = s.seed;
}

std::string why_not_workload(const lock_entry& e, const sweep& s) { return why_not(e, s.work); }

std::string workload_title(const workload_options& w) {
  std::string s;
  if (w.lock_count.value_or(1) > 1)
    s.append(", ")
        .append(std::to_string(*w.lock_count))
        .append(" locks (")
        .append(name_of(w.choice.value_or(lockbench::lock_choice::striped)))
        .append(")");
  if (w.readers_pct) s.append(", ").append(std::to_string(*w.readers_pct)).append("% readers");
  if (w.trylock) s.append(", try_lock");
  if (w.cs_dist && *w.cs_dist != lockbench::cs_distribution::fixed)
    s.append(", ").append(name_of(*w.cs_dist)).append(" critical sections");
  if (w.long_hold_every && w.long_hold_ns)
    s.append(", every ")
        .append(std::to_string(*w.long_hold_every))
        .append("th hold +")
        .append(human_time(static_cast<double>(*w.long_hold_ns)));
  return s;
}

void print_workload_table(const std::vector<const row*>& rows) {
  bool any = false;
  for (const row* r : rows) {
    const lockbench::contention& c = r->r.config;
    any = any || c.lock_count > 1 || c.readers_pct || c.trylock || c.long_hold_every;
  }
  if (!any) return;
  std::printf("workload (per acquisition: reads share, seqlock retries per read, try_lock failures; long holds):\n");
  int cw = contenders_width(rows);
  std::printf("  %-16s %-*s %7s %7s %9s %11s %10s\n", "lock", cw, "contenders", "locks", "reads", "retries",
              "try fails", "long holds");
  for (const row* r : rows) {
    const lockbench::result& x = r->r;
    auto per = [](std::uint64_t n, std::uint64_t of) {
      return of ? static_cast<double>(n) / static_cast<double>(of) : 0.0;
    };
    std::printf("  %-16s %-*s %7u %6.1f%% %9.3f %11.3f %10llu\n", r->lock->name, cw, contenders_label(x.config).c_str(),
                x.config.lock_count, 100 * per(x.reads, x.acquisitions), per(x.read_retries, x.reads),
                per(x.trylock_failures, x.acquisitions), static_cast<unsigned long long>(x.long_holds));
  }
}

void json_workload(const lockbench::result& x) {
  const lockbench::contention& c = x.config;
  std::printf(
      ", \"lock_count\": %u, \"lock_choice\": \"%s\", \"readers_pct\": %u, \"trylock\": %s, \"cs_dist\": \"%s\", "
      "\"long_hold_every\": %llu, \"long_hold_ns\": %lld, \"reads\": %llu, \"read_retries\": %llu, "
      "\"trylock_failures\": %llu, \"long_holds\": %llu",
      c.lock_count, name_of(c.choice), c.readers_pct, c.trylock ? "true" : "false", name_of(c.cs_dist),
      static_cast<unsigned long long>(c.long_hold_every), static_cast<long long>(c.long_hold_ns),
      static_cast<unsigned long long>(x.reads), static_cast<unsigned long long>(x.read_retries),
      static_cast<unsigned long long>(x.trylock_failures), static_cast<unsigned long long>(x.long_holds));
}

const char* csv_workload_header() {
  return ",lock_count,lock_choice,readers_pct,trylock,cs_dist,long_hold_every,long_hold_ns,reads,read_retries,"
         "trylock_failures,long_holds";
}

void csv_workload(const lockbench::result& x) {
  const lockbench::contention& c = x.config;
  std::printf(",%u,%s,%u,%d,%s,%llu,%lld,%llu,%llu,%llu,%llu", c.lock_count, name_of(c.choice), c.readers_pct,
              c.trylock ? 1 : 0, name_of(c.cs_dist), static_cast<unsigned long long>(c.long_hold_every),
              static_cast<long long>(c.long_hold_ns), static_cast<unsigned long long>(x.reads),
              static_cast<unsigned long long>(x.read_retries), static_cast<unsigned long long>(x.trylock_failures),
              static_cast<unsigned long long>(x.long_holds));
}

}  // namespace lockbench::tool
