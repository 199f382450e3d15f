// bench/support/percentile.hpp — the one percentile definition every
// benchmark uses, and the latency summary built on it.
//
// Definition: NEAREST RANK. The q-quantile (0 <= q <= 1) of n samples is
// the sample of rank ceil(q * n) in ascending order, ranks counted from 1
// and clamped to 1..n. So:
//  * it is always one of the samples, never an interpolation between two:
//    a p99 latency is a latency some request really had;
//  * at least q * n samples are <= it, and it is the smallest such sample;
//  * the median (q = 0.5) of an even count is the LOWER of the two middle
//    samples (4 samples: the 2nd);
//  * q = 0 gives the minimum, q = 1 the maximum.
// q * n is computed in floating point, so it is rounded down to an integer
// when it lies within 1e-6 above one (0.99 * 100 must be rank 99, not 100).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace bench {

// The 1-based rank of the q-quantile among n > 0 samples.
inline std::size_t nearest_rank(double q, std::size_t n) {
  const double r = std::ceil(q * static_cast<double>(n) - 1e-6);
  if (!(r >= 1)) return 1;  // also catches a NaN q
  return r >= static_cast<double>(n) ? n : static_cast<std::size_t>(r);
}

// The q-quantile of samples already sorted ascending; T{} when there are none.
template <class T>
T percentile_sorted(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return T{};
  return sorted[nearest_rank(q, sorted.size()) - 1];
}

// The q-quantile of unsorted samples (sorts a copy).
template <class T>
T percentile(std::vector<T> samples, double q) {
  std::sort(samples.begin(), samples.end());
  return percentile_sorted(samples, q);
}

template <class T>
T median(std::vector<T> samples) {
  return percentile(std::move(samples), 0.5);
}

// A latency distribution: count, percentiles, maximum and mean, in one unit.
struct latency_summary {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

// Summarises samples given in nanoseconds and sorted ascending, in
// microseconds (the unit the latency benchmarks print).
inline latency_summary summarise_sorted_ns_as_us(const std::vector<std::int64_t>& sorted) {
  latency_summary s;
  s.count = sorted.size();
  if (sorted.empty()) return s;
  auto us = [](std::int64_t v) { return static_cast<double>(v) / 1000.0; };
  s.p50 = us(percentile_sorted(sorted, 0.50));
  s.p90 = us(percentile_sorted(sorted, 0.90));
  s.p99 = us(percentile_sorted(sorted, 0.99));
  s.p999 = us(percentile_sorted(sorted, 0.999));
  s.max = us(sorted.back());
  double sum = 0;
  for (std::int64_t v : sorted) sum += static_cast<double>(v);
  s.mean = sum / static_cast<double>(sorted.size()) / 1000.0;
  return s;
}

inline latency_summary summarise_ns_as_us(std::vector<std::int64_t> ns) {
  std::sort(ns.begin(), ns.end());
  return summarise_sorted_ns_as_us(ns);
}

}  // namespace bench
