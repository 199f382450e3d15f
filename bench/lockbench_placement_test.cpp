// bench/lockbench_placement_test.cpp — the four placement orders of
// bench/support/cpu_topology.hpp on a made-up machine that has what this
// VM lacks: 2 packages x 2 cores x 2 SMT siblings, numbered as Linux
// numbers them (CPUs 0-3 the first sibling of each core, 4-7 the second),
// given in a shuffled order.
#include "support/cpu_topology.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace {

int failures = 0;

std::string text(const std::vector<int>& v) {
  std::string s;
  for (int c : v) s.append(s.empty() ? "" : ",").append(std::to_string(c));  // GCC 12's false -Wrestrict
  return s;
}

void expect(const char* name, bench::placement how, const std::vector<int>& want) {
  std::vector<bench::cpu_place> places;
  for (int cpu : {5, 2, 7, 0, 3, 6, 1, 4})  // cpu, package, core (core_id within its package)
    places.push_back({.cpu = cpu, .package = cpu % 4 / 2, .core = cpu % 2});
  bench::rank_places(places);
  std::vector<int> got = bench::placement_order(how, places);
  bool ok = got == want;
  if (!ok) ++failures;
  std::printf("%-10s %s  %s%s\n", name, text(got).c_str(), ok ? "ok" : "FAILED, expected ",
              ok ? "" : text(want).c_str());
}

}  // namespace

int main() {
  expect("compact", bench::placement::compact, {0, 4, 1, 5, 2, 6, 3, 7});
  expect("core-first", bench::placement::core_first, {0, 1, 4, 5, 2, 3, 6, 7});
  expect("smt-first", bench::placement::smt_first, {0, 4, 2, 6, 1, 5, 3, 7});
  expect("spread", bench::placement::spread, {0, 2, 1, 3, 4, 6, 5, 7});
  if (failures) return 1;
  std::printf("placement orders: passed\n");
  return 0;
}
