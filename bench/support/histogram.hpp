// bench/support/histogram.hpp — a log-linear histogram of non-negative
// integers (tick counts), for latencies recorded in a hot loop: add() is a
// few instructions and no allocation, merge() combines per-thread ones.
//
// Buckets: exact below 64, then 32 buckets per power of two (each about 3%
// wide), up to 2^64. The count, sum and maximum are kept exactly.
// Percentiles use the benchmarks' one definition (nearest rank,
// support/percentile.hpp) over the buckets: the middle of the bucket that
// holds that rank, never above the exact maximum.
#pragma once

#include "percentile.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace bench {

class histogram {
 public:
  histogram() : counts_(buckets, 0) {}

  void add(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    ++n_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
  }

  void merge(const histogram& o) {
    for (unsigned i = 0; i < buckets; ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const noexcept { return n_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return n_ ? sum_ / static_cast<double>(n_) : 0; }

  // The q-quantile (q in [0, 1]); 0 when empty.
  double percentile(double q) const noexcept {
    if (!n_) return 0;
    const std::uint64_t rank = nearest_rank(q, n_);
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < buckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(middle(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }

 private:
  static constexpr unsigned sub = 32, linear = 2 * sub;
  static constexpr unsigned buckets = linear + (64 - 6) * sub;

  static unsigned index(std::uint64_t v) noexcept {
    if (v < linear) return static_cast<unsigned>(v);
    unsigned e = static_cast<unsigned>(std::bit_width(v)) - 6;  // v >> e is in [32, 64)
    return linear + (e - 1) * sub + static_cast<unsigned>((v >> e) - sub);
  }
  static double middle(unsigned i) noexcept {
    if (i < linear) return i;
    unsigned e = (i - linear) / sub + 1;
    double low = static_cast<double>(std::uint64_t{sub + (i - linear) % sub} << e);
    return low + static_cast<double>(std::uint64_t{1} << e) / 2;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0, max_ = 0;
  double sum_ = 0;
};

}  // namespace bench
