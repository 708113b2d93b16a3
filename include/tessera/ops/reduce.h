// Reductions along dims (negative dims count from the end; empty dims = all).
#pragma once
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor sum(const Tensor& x);  // all elements -> 0-d tensor
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
// Max along one dim; gradient goes to the first maximal element (as torch.max(dim)).
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // all elements; gradient split evenly over ties (as torch.max())
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, first maximal index
// Variance with Bessel's correction `correction` (1 = unbiased, as torch.var default).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction = 1, bool keepdim = false);

// Normalizes a dim index against `ndim`; throws IndexError naming `op`.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace tessera
