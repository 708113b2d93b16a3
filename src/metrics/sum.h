// Neumaier-compensated summation for the metrics: the error stays at a few
// ulps of the result whatever the length, so our sums agree with numpy's
// pairwise sums far inside the 1e-12 the sklearn parity test allows.
#pragma once
#include <cmath>
#include <span>

namespace tessera::metrics::detail {

inline double compensated_sum(std::span<const double> v) {
  double sum = 0.0, comp = 0.0;
  for (double x : v) {
    const double t = sum + x;
    comp += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  return sum + comp;
}

}  // namespace tessera::metrics::detail
