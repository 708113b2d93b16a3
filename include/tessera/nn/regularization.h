// Regularization and gradient utilities: L1 / L2 penalties that any loss can
// add, gradient clipping by global norm and by value (as
// torch.nn.utils.clip_grad_norm_ / clip_grad_value_). Gradient accumulation
// needs nothing here: backward() adds into .grad until zero_grad().
#pragma once
#include <limits>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::nn {

// lambda * sum_i sum |w_i|. A differentiable 0-d tensor (dtype of the first
// parameter); its gradient is lambda * sign(w) (0 at w == 0, as torch.abs).
Tensor l1_penalty(const std::vector<Tensor>& params, double lambda);

// (lambda / 2) * sum_i sum w_i^2. The 1/2 makes the gradient lambda * w, the
// same step as SGD's weight_decay = lambda (torch has no such module; this
// convention is the usual "weight decay as a penalty").
Tensor l2_penalty(const std::vector<Tensor>& params, double lambda);

constexpr double kInfNorm = std::numeric_limits<double>::infinity();

// Scales every parameter's .grad in place so that their joint norm is at most
// max_norm, exactly as torch.nn.utils.clip_grad_norm_ (torch 1.13):
//   total = norm_p([norm_p(g) for g in grads])   (p = inf: max |g|)
//   coef  = min(max_norm / (total + 1e-6), 1);  g *= coef
// Parameters without a gradient are skipped. Returns the total norm before
// clipping (0 when no parameter has a gradient). error_if_nonfinite: throw
// when the total norm is NaN or infinite instead of scaling by NaN.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every .grad element to [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace tessera::nn
