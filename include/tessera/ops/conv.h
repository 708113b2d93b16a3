// 2-D convolution on NCHW tensors, as torch.nn.functional.conv2d.
#pragma once
#include "tessera/core/tensor.h"
#include "tessera/ops/pair.h"
#include "tessera/ops/pool.h"  // pooling was declared here before it had its own header

namespace tessera {

// x (N, C_in, H, W), weight (C_out, C_in / groups, kH, kW), bias (C_out) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Pair stride = {1, 1},
              Pair padding = {0, 0}, Pair dilation = {1, 1}, int64_t groups = 1);

}  // namespace tessera
