// bench/lockbench_stats_test.cpp — checks support/median_ci.hpp (the
// median and its confidence interval behind `lockbench --repeat`) on
// samples whose answers are known. Run by ctest; exits 1 on any failure.
//
//  * exact cases: the median of odd and even counts; the ranks and exact
//    coverage the binomial gives for n = 5, 6, 20 and 100;
//  * coverage: over 4000 trials each of 20 and of 7 draws from an
//    exponential distribution (skewed, like benchmark runs; its median is
//    ln 2) and from a uniform one, the interval holds the true median at
//    about its stated rate. The generator is seeded, so the test is
//    deterministic; the bounds are four standard errors wide around the
//    exact coverage.
#include "support/median_ci.hpp"

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    ++failures;
    std::printf("FAILED: %s\n", what);
  }
}

bool near(double a, double b, double tol) { return std::fabs(a - b) <= tol; }

void exact_cases() {
  bench::median_estimate odd = bench::estimate_median({5, 1, 3});
  check(odd.median == 3 && odd.n == 3, "median of {5, 1, 3} is 3");
  check(bench::estimate_median({4, 1, 3, 2}).median == 2.5, "median of {4, 1, 3, 2} is 2.5");
  check(bench::estimate_median({}).n == 0, "no samples: n = 0");
  // n = 5: no interval reaches 95%; [min, max] covers 1 - 2/32.
  bench::median_estimate five = bench::estimate_median({9, 7, 8, 6, 10});
  check(five.lo == 6 && five.hi == 10 && near(five.coverage, 1 - 2.0 / 32, 1e-12), "n = 5: [min, max], 93.75%");
  // n = 6: [min, max] covers 1 - 2/64 = 96.9%; k = 2 would cover only 78%.
  check(bench::median_ci_rank(6) == 1, "n = 6: rank 1");
  // n = 20: P(Bin(20, 1/2) <= 5) = 0.020695, <= 6: 0.057659, so k = 6.
  bench::median_estimate twenty = bench::estimate_median([] {
    std::vector<double> v;
    for (int i = 1; i <= 20; ++i) v.push_back(i);
    return v;
  }());
  check(twenty.lo == 6 && twenty.hi == 15, "n = 20: [x(6), x(15)]");
  check(near(twenty.coverage, 1 - 2 * 0.0206947, 1e-6), "n = 20: coverage 95.86%");
  // n = 100: the normal approximation gives k = 50 - 1.96 * 5 = 40.2: 40.
  check(bench::median_ci_rank(100) == 40, "n = 100: rank 40");
}

// The fraction of `trials` intervals from n draws of `draw` that hold `truth`.
double coverage(std::size_t n, int trials, double truth, const std::function<double(std::mt19937_64&)>& draw,
                unsigned seed) {
  std::mt19937_64 rng(seed);
  int hits = 0;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(draw(rng));
    bench::median_estimate e = bench::estimate_median(v);
    if (e.lo <= truth && truth <= e.hi) ++hits;
  }
  return static_cast<double>(hits) / trials;
}

void coverage_case(const char* name, std::size_t n, double truth, const std::function<double(std::mt19937_64&)>& draw,
                   unsigned seed) {
  constexpr int trials = 4000;
  double stated = bench::estimate_median(std::vector<double>(n, 0.0)).coverage;
  double seen = coverage(n, trials, truth, draw, seed);
  double se = std::sqrt(stated * (1 - stated) / trials);
  std::printf("%-12s n = %2zu: stated coverage %.4f, seen %.4f over %d trials\n", name, n, stated, seen, trials);
  check(n < 6 || stated >= 0.95, "from 6 samples on, the stated coverage is at least 95%");
  check(std::fabs(seen - stated) <= 4 * se, "coverage within 4 standard errors of the stated rate");
}

}  // namespace

int main() {
  exact_cases();
  auto exponential = [](std::mt19937_64& r) { return std::exponential_distribution<double>(1.0)(r); };
  auto uniform = [](std::mt19937_64& r) { return std::uniform_real_distribution<double>(10, 20)(r); };
  coverage_case("exponential", 20, std::log(2.0), exponential, 1);
  coverage_case("exponential", 7, std::log(2.0), exponential, 2);
  coverage_case("uniform", 20, 15, uniform, 3);
  if (failures) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("median CI: all checks passed\n");
  return 0;
}
