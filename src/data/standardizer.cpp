// Standardizer: statistics accumulated in double (two passes: mean, then the
// squared deviations) so float32 features with a large offset keep their
// precision.
#include "tessera/data/standardizer.h"

#include <cmath>
#include <type_traits>

namespace tessera::data {

Standardizer::Standardizer(std::vector<double> mean, std::vector<double> scale)
    : mean_(std::move(mean)), scale_(std::move(scale)), fitted_(true) {
  TSR_CHECK(mean_.size() == scale_.size(), ShapeError, "Standardizer: mean has ", mean_.size(), " entries but scale has ",
            scale_.size());
  for (size_t j = 0; j < scale_.size(); ++j)
    TSR_CHECK(std::isfinite(scale_[j]) && scale_[j] > 0 && std::isfinite(mean_[j]), Error,
              "Standardizer: feature ", j, " has mean ", mean_[j], " and scale ", scale_[j],
              "; expected finite values and a positive scale");
}

void Standardizer::fit(const Tensor& x, const std::vector<int64_t>& rows) {
  TSR_CHECK(x.defined() && x.dim() == 2, ShapeError, "Standardizer::fit: expected (N, F) features, got ",
            x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  const int64_t n = x.size(0), f = x.size(1);
  std::vector<int64_t> use = rows;
  if (use.empty())
    for (int64_t i = 0; i < n; ++i) use.push_back(i);
  TSR_CHECK(!use.empty(), Error, "Standardizer::fit: no rows to fit on");
  for (int64_t r : use)
    TSR_CHECK(r >= 0 && r < n, IndexError, "Standardizer::fit: row ", r, " is out of range for ", n, " rows");
  Tensor xd = x.to(DType::F64).contiguous();
  const double* p = xd.data<double>();
  mean_.assign(static_cast<size_t>(f), 0.0);
  scale_.assign(static_cast<size_t>(f), 0.0);
  for (int64_t r : use)
    for (int64_t j = 0; j < f; ++j) mean_[j] += p[r * f + j];
  for (auto& m : mean_) m /= static_cast<double>(use.size());
  for (int64_t r : use)
    for (int64_t j = 0; j < f; ++j) {
      double d = p[r * f + j] - mean_[j];
      scale_[j] += d * d;
    }
  for (auto& s : scale_) {
    s = std::sqrt(s / static_cast<double>(use.size()));
    if (!(s > 0)) s = 1.0;  // constant feature: leave it centred, not divided by zero
  }
  fitted_ = true;
}

Tensor Standardizer::transform(const Tensor& x) const {
  TSR_CHECK(fitted_, Error, "Standardizer::transform: call fit() first (on the training split)");
  TSR_CHECK(x.defined() && x.dim() == 2 && x.size(1) == num_features(), ShapeError,
            "Standardizer::transform: expected (N, ", num_features(), ") features, got ",
            x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError,
            "Standardizer::transform: expected float32 or float64 features, got ", dtype_name(x.dtype()));
  Tensor xd = x.to(DType::F64).contiguous();
  const int64_t n = x.size(0), f = x.size(1);
  Tensor out = empty(x.shape(), {.dtype = x.dtype()});
  const double* p = xd.data<double>();
  auto write = [&](auto* o) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < f; ++j)
        o[i * f + j] = static_cast<std::remove_pointer_t<decltype(o)>>((p[i * f + j] - mean_[j]) / scale_[j]);
  };
  if (x.dtype() == DType::F32) write(out.data<float>());
  else write(out.data<double>());
  return out;
}

}  // namespace tessera::data
