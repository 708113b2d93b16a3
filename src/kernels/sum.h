// Kernel stubs for sum (frontend src/ops/sum.cpp, which moves the reduced
// dims innermost or sums leading dims as columns; CPU kernels
// src/backends/cpu/sum.cpp).
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// out[i] = sum over a row of `rows`x`len` contiguous input (accumulated in double for floats).
TSR_DECLARE_STUB(sum_rows_stub, void (*)(const Tensor& out, const Tensor& in, int64_t rows, int64_t len));
// out[k] = sum_r in[r, k] for contiguous `in` viewed as (r, k).
TSR_DECLARE_STUB(sum_cols_stub, void (*)(const Tensor& out, const Tensor& in, int64_t rows, int64_t cols));

}  // namespace tessera
