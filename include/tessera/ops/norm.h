// Normalizations over the trailing `normalized_shape` dims.
#pragma once
#include "tessera/core/tensor.h"

namespace tessera {

// weight and bias may be undefined (no affine).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// x / sqrt(mean(x^2) + eps) * weight, as torch.nn.functional.rms_norm.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(), double eps = 1e-6);

// A residual add followed by a norm, as pre-norm transformer blocks do:
// sum = x + residual and y = norm(sum), computed in one kernel (the sum is
// normalized while in cache) with one backward. Both outputs may be used;
// values and gradients equal add() then layer_norm() / rms_norm(). A
// residual that only broadcasts to x falls back to exactly that composition.
struct AddNormResult {
  Tensor sum;  // x + residual
  Tensor y;    // the normalized sum
};
AddNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Shape& normalized_shape,
                             const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), double eps = 1e-5);
AddNormResult add_rms_norm(const Tensor& x, const Tensor& residual, const Shape& normalized_shape,
                           const Tensor& weight = Tensor(), double eps = 1e-6);

}  // namespace tessera
