// bench/latency_common.hpp — what preempt_latency and threads_latency share:
// the lateness summary (nearest-rank percentiles), command-line parsing
// helpers and the three output formats, so that bench/latency.sh reads both
// programs (and bench/go/latency) the same way.
//
// Output formats (one run = one record):
//   text  human-readable lines (the default)
//   csv   one line, no header:
//           label,wakeups,p50_us,p99_us,max_us,mean_us,extra
//         `extra` is free text without commas (jiffy puts its counters there)
//   json  one object: {"label":..., "wakeups":..., "p50_us":..., ...}
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace bench {

enum class output_format { text, csv, json };

struct lateness_summary {
  std::size_t wakeups = 0;
  double p50_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
};

// Nearest-rank percentiles of lateness samples given in nanoseconds.
inline lateness_summary summarise(std::vector<std::int64_t> ns) {
  lateness_summary s;
  s.wakeups = ns.size();
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto rank = [&](double q) {
    std::size_t r = static_cast<std::size_t>(q * static_cast<double>(ns.size()) + 0.999999);
    if (r < 1) r = 1;
    if (r > ns.size()) r = ns.size();
    return static_cast<double>(ns[r - 1]) / 1000.0;
  };
  s.p50_us = rank(0.50);
  s.p99_us = rank(0.99);
  s.max_us = static_cast<double>(ns.back()) / 1000.0;
  double sum = 0;
  for (std::int64_t v : ns) sum += static_cast<double>(v);
  s.mean_us = sum / static_cast<double>(ns.size()) / 1000.0;
  return s;
}

// `extra_text` is printed as-is in text mode; `extra_csv` (no commas) goes in
// the csv's last field and `extra_json` (a list of "key": value pairs) into
// the json object.
inline void print_summary(output_format fmt, const std::string& label, const lateness_summary& s,
                          const std::string& extra_text, const std::string& extra_csv,
                          const std::string& extra_json) {
  switch (fmt) {
    case output_format::text:
      std::printf("%s\n", label.c_str());
      std::printf("  wake-ups:  %zu\n", s.wakeups);
      std::printf("  lateness:  p50 %.1f us   p99 %.1f us   max %.1f us   mean %.1f us\n", s.p50_us, s.p99_us,
                  s.max_us, s.mean_us);
      if (!extra_text.empty()) std::printf("%s", extra_text.c_str());
      break;
    case output_format::csv: {
      std::string l = label;  // a comma would shift the fields
      for (char& ch : l)
        if (ch == ',') ch = ';';
      std::printf("%s,%zu,%.1f,%.1f,%.1f,%.1f,%s\n", l.c_str(), s.wakeups, s.p50_us, s.p99_us, s.max_us,
                  s.mean_us, extra_csv.c_str());
      break;
    }
    case output_format::json:
      std::printf("{\"label\": \"%s\", \"wakeups\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
                  "\"mean_us\": %.1f%s%s}\n",
                  label.c_str(), s.wakeups, s.p50_us, s.p99_us, s.max_us, s.mean_us, extra_json.empty() ? "" : ", ",
                  extra_json.c_str());
      break;
  }
  std::fflush(stdout);
}

[[noreturn]] inline void usage_error(const char* prog, const char* usage, const char* what, const char* arg) {
  std::fprintf(stderr, "%s: %s '%s'\nusage: %s %s\n", prog, what, arg ? arg : "", prog, usage);
  std::exit(2);
}

// Parses a number > 0 (double) or exits with a usage message.
inline double parse_positive(const char* prog, const char* usage, const char* flag, const char* arg) {
  if (!arg) usage_error(prog, usage, "missing value for", flag);
  char* end = nullptr;
  double v = std::strtod(arg, &end);
  if (!end || *end != '\0' || !(v > 0)) usage_error(prog, usage, "bad value (a positive number) for", flag);
  return v;
}

}  // namespace bench
