// Matrix products through BLAS.
#pragma once
#include "tessera/core/tensor.h"

namespace tessera {

// torch.matmul semantics: 1-D and 2-D operands, and batched operands whose
// batch dims broadcast. Transposed (non-contiguous) operands are passed to
// BLAS as transposes, without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);   // (M,K) x (K,N)
Tensor bmm(const Tensor& a, const Tensor& b);  // (B,M,K) x (B,K,N)
// y = x W^T + b, W of shape (out, in), as torch.nn.functional.linear. bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace tessera
