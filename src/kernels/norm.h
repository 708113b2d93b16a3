// Dispatch stubs for layer_norm and rms_norm over the last `cols` elements of
// a contiguous (rows, cols) tensor. weight / bias (cols) may be undefined
// tensors (no affine). CPU kernels: src/backends/cpu/norm.cpp.
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// y (rows, cols); mean, rstd (rows, float64) saved for backward. Biased variance, eps inside the sqrt.
// With `residual` defined (same shape as x), the row normalized is x + residual,
// written to `sum` in the same sweep (add_layer_norm); otherwise `sum` is unused.
TSR_DECLARE_STUB(layer_norm_stub, void (*)(Tensor& y, Tensor& sum, Tensor& mean, Tensor& rstd, const Tensor& x,
                                           const Tensor& residual, const Tensor& weight, const Tensor& bias,
                                           int64_t rows, int64_t cols, double eps));
// Fused backward: gx always; gw / gb when defined (they are then zero-free outputs of size cols).
// x is the tensor that was normalized (the sum, for add_layer_norm); g_add
// (rows, cols), when defined, is added to gx: the gradient that reached the
// sum output directly (the residual stream).
TSR_DECLARE_STUB(layer_norm_backward_stub, void (*)(Tensor& gx, Tensor& gw, Tensor& gb, const Tensor& g,
                                                    const Tensor& g_add, const Tensor& x, const Tensor& mean,
                                                    const Tensor& rstd, const Tensor& weight, int64_t rows,
                                                    int64_t cols));
// y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps) saved per row (float64);
// residual / sum and g_add as for layer_norm.
TSR_DECLARE_STUB(rms_norm_stub, void (*)(Tensor& y, Tensor& sum, Tensor& rstd, const Tensor& x, const Tensor& residual,
                                         const Tensor& weight, int64_t rows, int64_t cols, double eps));
TSR_DECLARE_STUB(rms_norm_backward_stub, void (*)(Tensor& gx, Tensor& gw, const Tensor& g, const Tensor& g_add,
                                                  const Tensor& x, const Tensor& rstd, const Tensor& weight,
                                                  int64_t rows, int64_t cols));

}  // namespace tessera
