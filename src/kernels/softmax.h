// Kernel stubs for softmax and log_softmax. The frontend (src/ops/softmax.cpp)
// views the input as a contiguous (outer, n, inner) block with n the softmax
// dim. CPU kernels: src/backends/cpu/softmax.cpp.
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// (Log-)softmax over the middle dim of a contiguous (outer, n, inner) tensor.
TSR_DECLARE_STUB(softmax_stub,
                 void (*)(Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool log));
// softmax:     gx = y * (g - sum_n(g * y))
// log_softmax: gx = g - exp(y) * sum_n(g)
TSR_DECLARE_STUB(softmax_backward_stub, void (*)(Tensor& gx, const Tensor& g, const Tensor& y, int64_t outer,
                                                 int64_t n, int64_t inner, bool log));

}  // namespace tessera
