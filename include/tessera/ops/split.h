// Splitting a tensor along a dim into views. All pieces share one backward
// node, so backward writes each piece's gradient into one buffer of the
// input's shape (not one full-size buffer per piece).
#pragma once
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
// ceil(n / chunks)-sized pieces, possibly fewer than `chunks`, as torch.chunk.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

}  // namespace tessera
