// Regression metrics (see include/tessera/metrics/regression.h), following
// sklearn 1.2's _regression.py: r2_score's constant-target rule compares the
// numerator and denominator with exactly zero, as sklearn does.
#include "tessera/metrics/regression.h"

#include <cmath>
#include <limits>

#include "metrics/sum.h"

namespace tessera::metrics {

namespace {

void check_inputs(std::span<const double> y_true, std::span<const double> y_pred, const char* fn) {
  TSR_CHECK(y_true.size() == y_pred.size(), ShapeError, fn, ": y_true has ", y_true.size(),
            " elements but y_pred has ", y_pred.size(), " (one prediction per target expected)");
  TSR_CHECK(!y_true.empty(), Error, fn, ": no samples (y_true and y_pred are empty)");
}

// Sum over i of (y_true[i] - y_pred[i])^2.
double squared_error_sum(std::span<const double> y_true, std::span<const double> y_pred) {
  std::vector<double> sq(y_true.size());  // (N,)
  for (size_t i = 0; i < sq.size(); ++i) {
    const double d = y_true[i] - y_pred[i];
    sq[i] = d * d;
  }
  return detail::compensated_sum(sq);
}

}  // namespace

double mean_squared_error(std::span<const double> y_true, std::span<const double> y_pred) {
  check_inputs(y_true, y_pred, "mean_squared_error");
  return squared_error_sum(y_true, y_pred) / static_cast<double>(y_true.size());
}

double mean_absolute_error(std::span<const double> y_true, std::span<const double> y_pred) {
  check_inputs(y_true, y_pred, "mean_absolute_error");
  std::vector<double> ab(y_true.size());  // (N,)
  for (size_t i = 0; i < ab.size(); ++i) ab[i] = std::abs(y_pred[i] - y_true[i]);
  return detail::compensated_sum(ab) / static_cast<double>(y_true.size());
}

double r2_score(std::span<const double> y_true, std::span<const double> y_pred) {
  check_inputs(y_true, y_pred, "r2_score");
  if (y_true.size() < 2) return std::numeric_limits<double>::quiet_NaN();  // undefined, as in sklearn
  const auto n = static_cast<double>(y_true.size());
  const double mean = detail::compensated_sum(y_true) / n;
  std::vector<double> dev(y_true.size());  // (N,)
  for (size_t i = 0; i < dev.size(); ++i) dev[i] = (y_true[i] - mean) * (y_true[i] - mean);
  const double numerator = squared_error_sum(y_true, y_pred);
  const double denominator = detail::compensated_sum(dev);
  if (numerator == 0.0) return 1.0;    // perfect, even for a constant target
  if (denominator == 0.0) return 0.0;  // constant target missed: sklearn avoids -inf
  return 1.0 - numerator / denominator;
}

std::vector<double> regression_values(const Tensor& t, const char* what) {
  TSR_CHECK(t.defined(), Error, what, ": undefined tensor");
  const bool ok = t.dim() == 1 || (t.dim() == 2 && t.size(1) == 1);
  if (!ok) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    throw ShapeError(std::string(what) + ": expected shape (N,) or (N, 1) for a single-output regression, got " +
                     s + "]");
  }
  return t.to_vector<double>();
}

}  // namespace tessera::metrics
