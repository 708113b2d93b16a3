// Kernels shared by the core: strided copy with dtype conversion, and fill.
#pragma once
#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// dst and src have the same shape (src may be a broadcast view); any dtypes.
TSR_DECLARE_STUB(copy_stub, void (*)(const Tensor& dst, const Tensor& src));
TSR_DECLARE_STUB(fill_stub, void (*)(const Tensor& dst, double value));

}  // namespace tessera
