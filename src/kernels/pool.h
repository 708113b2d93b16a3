// Kernel stubs for 2-D max and average pooling on contiguous planes (frontend
// src/ops/pool.cpp, CPU kernels src/backends/cpu/pool.cpp).
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// Pooling windows, [0] = height, [1] = width. Inputs are (P, H, W): P = N*C planes.
struct Pool2dGeometry {
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  bool count_include_pad = true;  // avg_pool2d only
};

// out (P, H_out, W_out) = window maxima of x (P, H, W); indices (int64, out's shape) = h * W + w of each maximum.
TSR_DECLARE_STUB(max_pool2d_stub, void (*)(const Tensor& out, const Tensor& indices, const Tensor& x,
                                           const Pool2dGeometry& geo));
// grad_x (P, H, W) = scatter-add of grad_out (P, H_out, W_out) at indices.
TSR_DECLARE_STUB(max_pool2d_backward_stub, void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices));
TSR_DECLARE_STUB(avg_pool2d_stub, void (*)(const Tensor& out, const Tensor& x, const Pool2dGeometry& geo));
TSR_DECLARE_STUB(avg_pool2d_backward_stub, void (*)(const Tensor& grad_x, const Tensor& grad_out,
                                                    const Pool2dGeometry& geo));

}  // namespace tessera
