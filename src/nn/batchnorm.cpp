// BatchNorm1d / BatchNorm2d, composed from tensor ops (autograd supplies the
// backward through the batch statistics). The running-statistics update
// follows torch's _BatchNorm.forward and the CPU batch_norm kernel: biased
// variance to normalize, unbiased variance into running_var.
#include "tessera/nn/batchnorm.h"

#include "tessera/autograd/grad_mode.h"
#include "tessera/nn/init.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/reduce.h"

namespace tessera::nn {

namespace {

int64_t checked_features(const std::string& who, int64_t c) {
  TSR_CHECK(c > 0, ShapeError, who, ": num_features must be positive, got ", c);
  return c;
}

}  // namespace

BatchNormBase::BatchNormBase(const std::string& type_name, const BatchNormOptions& o)
    : Module(type_name),
      options((checked_features(type_name, o.num_features), o)),
      weight(register_parameter("weight", o.affine ? ones({o.num_features}) : Tensor())),
      bias(register_parameter("bias", o.affine ? zeros({o.num_features}) : Tensor())),
      running_mean(register_buffer("running_mean", o.track_running_stats ? zeros({o.num_features}) : Tensor())),
      running_var(register_buffer("running_var", o.track_running_stats ? ones({o.num_features}) : Tensor())),
      num_batches_tracked(register_buffer("num_batches_tracked",
                                          o.track_running_stats ? zeros({}, {.dtype = DType::I64}) : Tensor())) {
  TSR_CHECK(o.eps >= 0, Error, type_name, ": eps must be non-negative, got ", o.eps);
  TSR_CHECK(!o.momentum || (*o.momentum >= 0 && *o.momentum <= 1), Error, type_name,
            ": momentum must be in [0, 1], got ", o.momentum.value_or(0));
}

void BatchNormBase::reset_running_stats() {
  if (!running_mean.defined()) return;
  NoGradGuard ng;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (weight.defined()) {
    NoGradGuard ng;
    init::ones_(weight);
    init::zeros_(bias);
  }
}

std::string BatchNormBase::describe() const {
  std::string s = detail::concat(type_name(), "(", options.num_features, ")");
  return path().empty() ? s : s + " '" + path() + "'";
}

Tensor BatchNormBase::forward(const Tensor& x) {
  TSR_CHECK(x.defined(), Error, describe(), ": input is undefined");
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, describe(),
            ": expected a float32 or float64 input, got ", dtype_name(x.dtype()));
  check_input(x);
  const int64_t C = options.num_features;
  Shape bshape(x.dim(), 1);  // (1, C, 1, ...): broadcasts per channel
  bshape[1] = C;
  std::vector<int64_t> dims;  // every dim but the channel dim
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);

  const bool update = training_ && options.track_running_stats;
  double factor = 0.0;
  if (update) {
    NoGradGuard ng;
    num_batches_tracked.fill_(num_batches_tracked.item() + 1);
    factor = options.momentum ? *options.momentum : 1.0 / num_batches_tracked.item();
  }
  const bool batch_stats = training_ || !running_mean.defined();
  const int64_t n = x.numel() / C;  // values per channel
  Tensor y;
  if (x.numel() == 0) {
    y = x * 1.0;
  } else if (batch_stats) {
    TSR_CHECK(n > 1, ShapeError, describe(), ": expected more than 1 value per channel when training, got input of shape ",
              shape_str(x.shape()));
    Tensor mu = mean(x, dims, /*keepdim=*/true);  // (1, C, 1, ...)
    Tensor xc = x - mu;
    Tensor v = mean(xc * xc, dims, /*keepdim=*/true);  // biased
    y = xc * rsqrt(v + options.eps);
    if (update) {
      NoGradGuard ng;
      Tensor bm = mu.detach().reshape({C});
      Tensor bv = v.detach().reshape({C}) * (static_cast<double>(n) / static_cast<double>(n - 1));  // unbiased
      running_mean.copy_(running_mean.to(x.dtype()) * (1.0 - factor) + bm * factor);
      running_var.copy_(running_var.to(x.dtype()) * (1.0 - factor) + bv * factor);
    }
  } else {
    Tensor rm = running_mean.detach().to(x.dtype()).view(bshape);
    Tensor rv = running_var.detach().to(x.dtype()).view(bshape);
    y = (x - rm) * rsqrt(rv + options.eps);
  }
  if (weight.defined()) y = y * weight.view(bshape) + bias.view(bshape);
  return y;
}

void BatchNorm1d::check_input(const Tensor& x) const {
  TSR_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(1) == options.num_features, ShapeError, describe(),
            ": expected a 2-D (N, C) or 3-D (N, C, L) input with C = ", options.num_features, ", got shape ",
            shape_str(x.shape()));
}

void BatchNorm2d::check_input(const Tensor& x) const {
  TSR_CHECK(x.dim() == 4 && x.size(1) == options.num_features, ShapeError, describe(),
            ": expected a 4-D (N, C, H, W) input with C = ", options.num_features, ", got shape ",
            shape_str(x.shape()));
}

}  // namespace tessera::nn
