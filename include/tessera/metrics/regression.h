// Regression metrics with scikit-learn's definitions (1.2): mean squared
// error, mean absolute error and R^2 (r2_score with force_finite=True: a
// constant target scores 1 when predicted exactly and 0 otherwise, fewer than
// two samples give NaN). Single-output; computed in double with compensated
// sums. Errors: ShapeError for a length mismatch, Error for empty inputs.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::metrics {

double mean_squared_error(std::span<const double> y_true, std::span<const double> y_pred);
double mean_absolute_error(std::span<const double> y_true, std::span<const double> y_pred);
double r2_score(std::span<const double> y_true, std::span<const double> y_pred);

// Checks a (N,) or (N, 1) tensor of targets / predictions (any dtype) and
// copies it out as double. `what` names the argument in the error.
std::vector<double> regression_values(const Tensor& t, const char* what = "values");

}  // namespace tessera::metrics
