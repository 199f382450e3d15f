// bench/latency_common.hpp — what preempt_latency and threads_latency share:
// the workload's options, the hogs' counters and the three output formats,
// so that bench/latency.sh reads both programs (and bench/go/latency) the
// same way. Lateness percentiles are nearest-rank (support/percentile.hpp).
//
// Output formats (one run = one record):
//   text  human-readable lines (the default)
//   csv   one line, no header:
//           label,wakeups,p50_us,p99_us,max_us,mean_us,extra
//         `extra` is free text without commas (jiffy puts its counters there)
//   json  one object: {"label":..., "wakeups":..., "p50_us":..., ...}
#pragma once

#include "support/cli.hpp"
#include "support/percentile.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

// The workload options both programs take, with the same defaults.
struct workload_options {
  double seconds = 3;
  long wakeups = 1000;
  int hogs = 3;
  long sleep_us = 2000;
  std::string label;
  output_format format = output_format::text;
};

constexpr const char* kWorkloadSynopsis =
    "[--seconds S] [--wakeups N] [--hogs N] [--sleep-us N] [--label TEXT] [--csv | --json]";

constexpr const char* kWorkloadHelp =
    "  --seconds S     end the run after S seconds (default 3)...\n"
    "  --wakeups N     ...or after N wake-ups (default 1000)\n"
    "  --hogs N        CPU hogs that never yield (default 3)\n"
    "  --sleep-us N    the sleeper's sleep in us (default 2000)\n"
    "  --label TEXT    the run's name in the output\n"
    "  --csv, --json   one record instead of the text (see bench/latency_common.hpp)\n";

// Applies the current argument if it is one of workload_options'; false if
// it is not.
inline bool parse_workload_option(cli::args& args, workload_options& o) {
  if (args.is("--seconds"))
    o.seconds = args.number(0.001, 86400);
  else if (args.is("--wakeups"))
    o.wakeups = static_cast<long>(args.integer(1, 100000000));
  else if (args.is("--hogs"))
    o.hogs = static_cast<int>(args.integer(1, 4096));
  else if (args.is("--sleep-us"))
    o.sleep_us = static_cast<long>(args.integer(1, 100000000));
  else if (args.is("--label"))
    o.label = args.text();
  else if (args.is("--csv"))
    o.format = output_format::csv;
  else if (args.is("--json"))
    o.format = output_format::json;
  else
    return false;
  return true;
}

// One hog's iteration counter, on its own cache line.
struct alignas(64) hog_counter {
  std::atomic<std::uint64_t> n{0};
};

// `extra_text` is printed as-is in text mode; `extra_csv` (no commas) goes in
// the csv's last field and `extra_json` (a list of "key": value pairs) into
// the json object.
inline void print_summary(output_format fmt, const std::string& label, const latency_summary& s,
                          const std::string& extra_text, const std::string& extra_csv, const std::string& extra_json) {
  switch (fmt) {
    case output_format::text:
      std::printf("%s\n", label.c_str());
      std::printf("  wake-ups:  %zu\n", s.count);
      std::printf("  lateness:  p50 %.1f us   p99 %.1f us   max %.1f us   mean %.1f us\n", s.p50, s.p99, s.max, s.mean);
      if (!extra_text.empty()) std::printf("%s", extra_text.c_str());
      break;
    case output_format::csv: {
      std::string l = label;  // a comma would shift the fields
      for (char& ch : l)
        if (ch == ',') ch = ';';
      std::printf("%s,%zu,%.1f,%.1f,%.1f,%.1f,%s\n", l.c_str(), s.count, s.p50, s.p99, s.max, s.mean,
                  extra_csv.c_str());
      break;
    }
    case output_format::json:
      std::printf(
          "{\"label\": \"%s\", \"wakeups\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
          "\"mean_us\": %.1f%s%s}\n",
          label.c_str(), s.count, s.p50, s.p99, s.max, s.mean, extra_json.empty() ? "" : ", ", extra_json.c_str());
      break;
  }
  std::fflush(stdout);
}

}  // namespace bench
