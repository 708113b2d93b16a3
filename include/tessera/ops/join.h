// Joining tensors along a dim: copies, one backward node over all inputs.
#pragma once
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

}  // namespace tessera
