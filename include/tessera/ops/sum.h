// Sums: along dims, over everything, and back down to a broadcast shape.
#pragma once
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

// Negative dims count from the end; empty dims = all.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor sum(const Tensor& x);  // all elements -> 0-d tensor
// Sum `t` down to `shape` (the reverse of broadcasting), for gradients.
Tensor sum_to(const Tensor& t, const Shape& shape);

}  // namespace tessera
