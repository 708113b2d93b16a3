// Per-feature standardization x' = (x - mean) / scale, fitted on the training
// split only (fitting on validation or test rows would leak them into
// training). scale is the population standard deviation, or 1 where it is 0,
// as scikit-learn's StandardScaler. The state is two vectors of doubles, so a
// checkpoint can store it as JSON arrays.
#pragma once
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::data {

class Standardizer {
 public:
  Standardizer() = default;
  Standardizer(std::vector<double> mean, std::vector<double> scale);  // from a checkpoint

  // x: (N, F) float32 or float64. rows: which rows to fit on (empty = all).
  void fit(const Tensor& x, const std::vector<int64_t>& rows = {});
  // A new tensor of x's shape and dtype; x is not modified. Needs fit().
  Tensor transform(const Tensor& x) const;

  bool fitted() const { return fitted_; }
  int64_t num_features() const { return static_cast<int64_t>(mean_.size()); }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& scale() const { return scale_; }

 private:
  std::vector<double> mean_, scale_;
  bool fitted_ = false;
};

}  // namespace tessera::data
