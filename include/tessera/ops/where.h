// Elementwise selection with broadcasting.
#pragma once
#include "tessera/core/tensor.h"

namespace tessera {

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);     // cond is Bool
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);  // mask is Bool

}  // namespace tessera
