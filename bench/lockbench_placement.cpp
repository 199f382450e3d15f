// bench/lockbench_placement.cpp — where `lockbench`'s contenders run: the
// CPUs line-move measures on and moves the line from, and the report of
// contenders that did not run where they were asked. (--cpus and
// --placement are parsed in lockbench_options.cpp; the orders are
// bench/support/cpu_topology.hpp's.)
#include "lockbench_tool.hpp"
#include "support/cpu_topology.hpp"
#include "support/pinning.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace lockbench::tool {

// On: the first of --cpus (or --placement's order), else --pin-cpu, else
// the first allowed CPU. From: --from-cpu, else the first allowed CPU on
// another core (else any other CPU); -1 when this process may use one CPU.
void line_move_cpus(const options& o, int& on, int& from) {
  std::vector<int> allowed = bench::allowed_cpus();
  on = allowed.empty() ? 0 : allowed.front();
  if (o.pin_cpu && *o.pin_cpu >= 0) on = *o.pin_cpu;
  if (o.cpus && !o.cpus->empty()) on = o.cpus->front();
  from = -1;
  if (o.from_cpu) {
    from = *o.from_cpu;
    return;
  }
  std::vector<bench::cpu_place> places = bench::cpu_places(allowed);
  const bench::cpu_place* mine = nullptr;
  for (const bench::cpu_place& p : places)
    if (p.cpu == on) mine = &p;
  for (const bench::cpu_place& p : places) {
    if (p.cpu == on) continue;
    bool sibling = mine && p.package == mine->package && p.core == mine->core;
    if (!sibling) {
      from = p.cpu;
      return;
    }
    if (from < 0) from = p.cpu;
  }
}

namespace {

std::string cpu_name(int cpu) {
  std::string s = "CPU ";  // appended: GCC 12's false -Wrestrict (see contenders_label)
  return s.append(std::to_string(cpu));
}

}  // namespace

void report_misplaced(const std::vector<row>& rows) {
  for (const row& r : rows) {
    for (const lockbench::result& x : r.r_runs) {
      for (std::size_t i = 0; i < x.cpu_requested.size(); ++i) {
        int want = x.cpu_requested[i];
        if (want < 0 || (x.cpu_start[i] == want && x.cpu_end[i] == want)) continue;
        std::fprintf(stderr,
                     "lockbench: warning: %s, %s: contender %zu was pinned to CPU %d but ran on %s as its measurement "
                     "began and on %s as it ended\n",
                     r.lock->name, contenders_label(x.config).c_str(), i, want, cpu_name(x.cpu_start[i]).c_str(),
                     cpu_name(x.cpu_end[i]).c_str());
      }
    }
  }
}

}  // namespace lockbench::tool
