// Penalties and gradient clipping. The penalties are op compositions, so they
// differentiate like any loss term. Clipping takes each gradient's norm with
// vector_norm (in double over fixed-size blocks summed in block order), so the
// total norm does not depend on the thread count.
#include "tessera/nn/regularization.h"

#include <algorithm>
#include <cmath>

#include "tessera/autograd/grad_mode.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/reduce.h"

namespace tessera::nn {

namespace {

Tensor penalty(const std::vector<Tensor>& params, double scale, bool l1, const char* who) {
  Tensor total;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    TSR_CHECK(p.defined(), Error, who, ": parameter ", i, " is undefined");
    TSR_CHECK(is_floating(p.dtype()), DTypeError, who, ": parameter ", i, " has dtype ", dtype_name(p.dtype()),
              ", expected a floating dtype");
    Tensor term = l1 ? sum(abs(p)) : sum(mul(p, p));
    total = total.defined() ? add(total, term) : term;
  }
  if (!total.defined()) return zeros({});
  return mul(total, scale);
}

// One gradient's p-norm (vector_norm: a kernel, in double, independent of the
// thread count), with clip_grad_norm_'s own dtype message.
double tensor_norm(const Tensor& g, double p) {
  TSR_CHECK(g.dtype() == DType::F32 || g.dtype() == DType::F64, DTypeError,
            "clip_grad_norm_: gradients must be float32 or float64, got ", dtype_name(g.dtype()));
  return vector_norm(g, p).item();
}

}  // namespace

Tensor l1_penalty(const std::vector<Tensor>& params, double lambda) { return penalty(params, lambda, true, "l1_penalty"); }

Tensor l2_penalty(const std::vector<Tensor>& params, double lambda) {
  return penalty(params, 0.5 * lambda, false, "l2_penalty");
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  TSR_CHECK(norm_type > 0, Error, "clip_grad_norm_: norm_type must be positive or infinite, got ", norm_type);
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  const bool inf = std::isinf(norm_type);
  // torch: norm of the per-gradient norms (max of the per-gradient maxima for inf).
  double total = 0.0;
  for (const Tensor& g : grads) {
    double gn = tensor_norm(g, norm_type);
    if (inf) total = (std::isnan(gn) || std::isnan(total)) ? std::nan("") : std::max(total, gn);
    else total += norm_type == 2.0 ? gn * gn : norm_type == 1.0 ? gn : std::pow(gn, norm_type);
  }
  if (!inf) total = norm_type == 2.0 ? std::sqrt(total) : norm_type == 1.0 ? total : std::pow(total, 1.0 / norm_type);
  TSR_CHECK(!error_if_nonfinite || std::isfinite(total), Error, "clip_grad_norm_: the total norm of order ", norm_type,
            " of the gradients is non-finite (", total, "), so they cannot be clipped");
  const double coef = std::min(max_norm / (total + 1e-6), 1.0);  // NaN stays NaN, as torch.clamp
  if (coef != 1.0) {
    NoGradGuard ng;
    for (Tensor& g : grads) g.mul_(coef);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  TSR_CHECK(clip_value >= 0, Error, "clip_grad_value_: clip_value must be non-negative, got ", clip_value);
  NoGradGuard ng;
  for (const Tensor& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (g.defined()) g.copy_(clamp(g, -clip_value, clip_value));
  }
}

}  // namespace tessera::nn
