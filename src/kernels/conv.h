// Kernel stubs for 2-D convolution on contiguous NCHW tensors (frontend
// src/ops/conv.cpp, CPU kernels src/backends/cpu/conv.cpp).
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// Sizes of one convolution, [0] = height, [1] = width.
struct Conv2dGeometry {
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  int64_t groups;
};

// out (N, C_out, H_out, W_out) = conv(x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW)) + bias (C_out, or undefined).
TSR_DECLARE_STUB(conv2d_stub, void (*)(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                                       const Conv2dGeometry& geo));
// Fills grad_x (x's shape) and grad_w (w's shape) from grad_out (out's shape); either may be undefined (not needed).
TSR_DECLARE_STUB(conv2d_backward_stub, void (*)(const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_out,
                                                const Tensor& x, const Tensor& w, const Conv2dGeometry& geo));

}  // namespace tessera
