// Kernel stub for where (frontend src/ops/where.cpp, which also builds
// masked_fill on it; CPU kernel src/backends/cpu/where.cpp).
#pragma once
#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// out = cond ? a : b with broadcasting; out is contiguous with the broadcast
// shape, a and b share out's dtype, cond is Bool.
TSR_DECLARE_STUB(where_stub, void (*)(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b));

}  // namespace tessera
