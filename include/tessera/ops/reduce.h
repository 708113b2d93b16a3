// Reductions along dims other than sum (negative dims count from the end;
// empty dims = all), and the p-norm used by gradient clipping.
#pragma once
#include <vector>

#include "tessera/core/tensor.h"
#include "tessera/ops/sum.h"  // sum was declared here before it had its own header

namespace tessera {

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
// Max along one dim; gradient goes to the first maximal element (as torch.max(dim)).
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // all elements; gradient split evenly over ties (as torch.max())
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, first maximal index
// Variance with Bessel's correction `correction` (1 = unbiased, as torch.var default).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction = 1, bool keepdim = false);
// The p-norm of all elements of a float tensor, (sum |x|^p)^(1/p), or max |x|
// for infinite p, as a 0-d float64 tensor on x's device. Accumulated in double
// over fixed-size blocks, so the value does not depend on the thread count.
// Not differentiable (it serves gradient clipping): throws AutogradError when
// x requires grad while grad mode is on.
Tensor vector_norm(const Tensor& x, double p = 2.0);

// Normalizes a dim index against `ndim`; throws IndexError naming `op`.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace tessera
