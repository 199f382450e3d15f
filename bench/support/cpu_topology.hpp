// bench/support/cpu_topology.hpp — where each logical CPU sits (package,
// core, SMT sibling), read from Linux's /sys/devices/system/cpu/cpu*/
// topology/{physical_package_id,core_id}, and the
// orders a benchmark can place its threads in. (A core's SMT siblings are
// the CPUs sharing its package and core_id: what thread_siblings_list lists.)
//
// The four orders are the two choices a placement makes, crossed:
//
//                          SMT siblings first      one per core first
//   fill a package first   compact                 core-first
//   alternate packages     smt-first               spread
//
//  * compact: the SMT siblings of a core, then the next core of the same
//    package, and only then the next package (threads share as much cache
//    as they can).
//  * core-first: one thread on every core of a package, then the second
//    siblings of that package's cores, then the next package.
//  * smt-first: a core's siblings together, but core after core alternating
//    between packages.
//  * spread: one thread per core alternating between packages; siblings
//    only once every core of every package has one (threads share as
//    little as they can).
// Cores are taken in core_id order within a package, siblings in CPU
// number order. Only CPUs in `allowed` take part.
#pragma once

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace bench {

struct cpu_place {
  int cpu = 0;
  int package = 0;
  int core = 0;       // core_id, unique within a package only
  int core_rank = 0;  // the core's index among its package's cores (ascending core_id)
  int thread = 0;     // its index among its core's siblings (ascending CPU number)
};

namespace detail {
inline int read_int_file(const std::string& path, int fallback) {
  std::ifstream in(path);
  int v = fallback;
  if (!(in >> v)) return fallback;
  return v;
}
}  // namespace detail

// Fills in core_rank and thread from package and core.
inline void rank_places(std::vector<cpu_place>& v) {
  std::map<std::pair<int, int>, std::vector<int>> siblings;  // (package, core) -> CPUs
  for (const cpu_place& p : v) siblings[{p.package, p.core}].push_back(p.cpu);
  std::map<int, int> next_rank;  // package -> cores ranked so far
  std::map<std::pair<int, int>, int> rank;
  for (auto& [key, list] : siblings) {  // std::map: ascending (package, core)
    rank[key] = next_rank[key.first]++;
    std::sort(list.begin(), list.end());
  }
  for (cpu_place& p : v) {
    const std::vector<int>& list = siblings[{p.package, p.core}];
    p.core_rank = rank[{p.package, p.core}];
    p.thread = static_cast<int>(std::find(list.begin(), list.end(), p.cpu) - list.begin());
  }
}

// The places of `cpus`, from /sys. A CPU whose topology cannot be read
// counts as a core of its own in package 0.
inline std::vector<cpu_place> cpu_places(const std::vector<int>& cpus) {
  std::vector<cpu_place> v;
  for (int cpu : cpus) {
    std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    cpu_place p;
    p.cpu = cpu;
    p.package = detail::read_int_file(dir + "physical_package_id", 0);
    p.core = detail::read_int_file(dir + "core_id", 100000 + cpu);
    v.push_back(p);
  }
  rank_places(v);
  return v;
}

enum class placement { compact, core_first, smt_first, spread };

// The CPUs of `v` (ranked: rank_places) ordered for the placement (see the
// top of this file).
inline std::vector<int> placement_order(placement how, std::vector<cpu_place> v) {
  auto key = [how](const cpu_place& p) {
    switch (how) {
      case placement::compact: return std::make_tuple(p.package, p.core_rank, p.thread, p.cpu);
      case placement::core_first: return std::make_tuple(p.package, p.thread, p.core_rank, p.cpu);
      case placement::smt_first: return std::make_tuple(p.core_rank, p.package, p.thread, p.cpu);
      case placement::spread: break;
    }
    return std::make_tuple(p.thread, p.core_rank, p.package, p.cpu);
  };
  std::sort(v.begin(), v.end(), [&](const cpu_place& a, const cpu_place& b) { return key(a) < key(b); });
  std::vector<int> out;
  for (const cpu_place& p : v) out.push_back(p.cpu);
  return out;
}

// `cpus` ordered for the placement, their topology read from /sys.
inline std::vector<int> placement_order(placement how, const std::vector<int>& cpus) {
  return placement_order(how, cpu_places(cpus));
}

}  // namespace bench
