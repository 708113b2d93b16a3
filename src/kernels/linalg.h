// Kernel stub for batched matrix products (src/ops/linalg.cpp is the frontend,
// src/backends/cpu/linalg.cpp the CPU kernel), and the rule that decides when
// a strided matrix can go to BLAS without a copy.
#pragma once
#include <algorithm>
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// How BLAS reads a (rows, cols) matrix with element strides (srow, scol):
// row-major (trans = false, rows ld apart) or column-major, i.e. the transpose
// of a row-major (cols, rows) matrix (trans = true). ok = false when neither
// (a broadcast dim, or no unit stride): the caller makes it contiguous.
struct BlasLayout {
  bool ok = false;
  bool trans = false;
  int64_t ld = 1;
};
inline BlasLayout blas_layout(int64_t rows, int64_t cols, int64_t srow, int64_t scol) {
  // A size-1 dim's stride is never used, so it cannot disqualify a layout.
  if ((cols == 1 || scol == 1) && (rows == 1 || srow >= std::max<int64_t>(1, cols)))
    return {true, false, rows == 1 ? std::max<int64_t>(1, cols) : srow};
  if ((rows == 1 || srow == 1) && (cols == 1 || scol >= std::max<int64_t>(1, rows)))
    return {true, true, cols == 1 ? std::max<int64_t>(1, rows) : scol};
  return {};
}
inline BlasLayout blas_layout(const Tensor& t) {  // of the last two dims
  int64_t n = t.dim();
  return blas_layout(t.size(n - 2), t.size(n - 1), t.stride(n - 2), t.stride(n - 1));
}

// out (B..., M, N), contiguous, = a @ b + beta * out, where a (B..., M, K) and
// b (B..., K, N) have out's dtype, are already expanded to out's batch dims
// (stride 0 where broadcast) and have BLAS-readable last two dims.
TSR_DECLARE_STUB(matmul_stub, void (*)(const Tensor& out, const Tensor& a, const Tensor& b, double beta));

}  // namespace tessera
