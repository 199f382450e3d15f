// examples/common/percentiles.hpp — the percentiles the examples report
// (latency p50, p99, max), computed one way so their tables compare.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace examples {

// The value at `p` percent (0..100) of `sorted` (ascending), by nearest rank
// rounded down: p 50 is the median, p 100 the largest. T{} when empty, so
// a run that measured nothing still prints a row.
template <class T>
T percentile(const std::vector<T>& sorted, std::size_t p) {
  if (sorted.empty()) return T{};
  return sorted[std::min(sorted.size() - 1, sorted.size() * p / 100)];
}

}  // namespace examples
