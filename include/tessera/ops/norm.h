// Normalizations over the trailing `normalized_shape` dims.
#pragma once
#include "tessera/core/tensor.h"

namespace tessera {

// weight and bias may be undefined (no affine).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// x / sqrt(mean(x^2) + eps) * weight, as torch.nn.functional.rms_norm.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(), double eps = 1e-6);

}  // namespace tessera
