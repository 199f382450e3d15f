// bench/support/median_ci.hpp — the median of repeated measurements and a
// distribution-free confidence interval for it.
//
// Why this interval: run-to-run figures of a lock benchmark are neither
// normal nor symmetric (a run disturbed by another process is slow, never
// fast), so a mean ± t·s interval would be wrong in both directions. The
// order-statistics interval assumes only that the runs are independent
// draws from one distribution: each run falls below the true median with
// probability 1/2, so the number below it is Binomial(n, 1/2), and the
// interval [x(k), x(n+1-k)] between the k-th smallest and k-th largest run
// misses the median only when fewer than k runs fall on one side:
//     P(miss) = 2 · P(Binomial(n, 1/2) <= k - 1).
// We take the largest k with P(miss) <= 5%; the coverage is then at least
// 95% (more, as the binomial is discrete: 95.9% for n = 20). With n <= 5 no
// k reaches 95% (even [min, max] misses with probability 2/2^n: 6.25% for
// n = 5), so the interval is [min, max] and its coverage, lower than 95%,
// is reported as it is.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace bench {

struct median_estimate {
  double median = 0, lo = 0, hi = 0;
  double coverage = 0;  // the interval's exact coverage for continuous data
  std::size_t n = 0;
};

namespace detail {
// P(Binomial(n, 1/2) <= k), summed in logs so that large n do not overflow.
inline double binomial_half_cdf(std::size_t n, std::size_t k) {
  double sum = 0;
  for (std::size_t i = 0; i <= k && i <= n; ++i) {
    double log_choose = std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                        std::lgamma(static_cast<double>(n - i) + 1);
    sum += std::exp(log_choose - static_cast<double>(n) * std::log(2.0));
  }
  return std::min(sum, 1.0);
}
}  // namespace detail

// The 1-based rank k of the interval's lower end for n samples (the upper
// end is n + 1 - k): the largest k whose interval misses the median with
// probability <= 1 - confidence; 1 when none does. n >= 1.
inline std::size_t median_ci_rank(std::size_t n, double confidence = 0.95) {
  std::size_t k = 1;
  while (k + 1 <= (n + 1) / 2 && 2 * detail::binomial_half_cdf(n, k) <= 1 - confidence) ++k;
  return k;
}

// The median of the samples (the mean of the middle two for an even count)
// with its order-statistics confidence interval. Empty input: all zero.
inline median_estimate estimate_median(std::vector<double> v, double confidence = 0.95) {
  median_estimate e;
  e.n = v.size();
  if (v.empty()) return e;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  e.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  std::size_t k = median_ci_rank(n, confidence);
  e.lo = v[k - 1];
  e.hi = v[n - k];
  e.coverage = 1 - 2 * (k >= 1 ? detail::binomial_half_cdf(n, k - 1) : 0);
  return e;
}

}  // namespace bench
