// 2-D max and average pooling on NCHW tensors, as torch.nn.functional.
#pragma once
#include "tessera/core/tensor.h"
#include "tessera/ops/pair.h"

namespace tessera {

// stride {0,0} means stride = kernel_size (torch's default).
Tensor max_pool2d(const Tensor& x, Pair kernel_size, Pair stride = {0, 0}, Pair padding = {0, 0},
                  Pair dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, Pair kernel_size, Pair stride = {0, 0}, Pair padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);

}  // namespace tessera
