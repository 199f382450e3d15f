// bench/lockbench_counters.cpp — `lockbench --counters LIST`: Linux perf
// counters per acquisition (support/perf_counters.hpp says how they count
// the whole process, contender threads and runtime workers included, over
// the measured window only).
//
// Each contended run opens its own counters before its threads start (so
// they inherit them) and reads them after they have been joined (so their
// counts have been added in). A counter this machine cannot count is named
// once on stderr with the reason, reported as unavailable in the JSON, and
// left out of the figures; the others count regardless.
#include "lockbench_tool.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lockbench::tool {

counter_set::counter_set(const std::vector<std::string>& names) {
  for (const std::string& name : names)
    if (const bench::perf_counter_kind* k = bench::find_perf_counter(name))
      counters_.push_back(std::make_unique<bench::perf_counter>(*k));
}

void counter_set::start() {
  for (auto& c : counters_) c->reset_and_enable();
}

void counter_set::stop() {
  for (auto& c : counters_) c->disable();
}

std::vector<double> counter_set::per_acquisition(std::uint64_t acquisitions) const {
  std::vector<double> v;
  for (const auto& c : counters_) {
    if (!c->available() || !acquisitions)
      v.push_back(std::numeric_limits<double>::quiet_NaN());
    else
      v.push_back(static_cast<double>(c->read_count()) / static_cast<double>(acquisitions));
  }
  return v;
}

std::vector<std::pair<std::string, std::string>> unavailable_counters(const std::vector<std::string>& names,
                                                                      bool quiet) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& name : names) {
    const bench::perf_counter_kind* k = bench::find_perf_counter(name);
    if (!k) continue;
    bench::perf_counter probe(*k);
    if (probe.available()) continue;
    out.emplace_back(name, probe.why_unavailable());
    if (!quiet)
      std::fprintf(stderr, "lockbench: note: counter %s unavailable: %s\n", name.c_str(), out.back().second.c_str());
  }
  return out;
}

bool is_counter_name(const std::string& name) { return bench::find_perf_counter(name) != nullptr; }

std::string valid_counter_names() {
  std::string s;
  for (const bench::perf_counter_kind& k : bench::perf_counter_kinds())
    s += std::string(s.empty() ? "" : ", ") + k.name;
  return s;
}

}  // namespace lockbench::tool
