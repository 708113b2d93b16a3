// Dispatch stubs for mean, var, max and argmax. Reductions run over the
// middle dim of a contiguous (outer, r, inner) tensor: the frontend
// (src/ops/reduce.cpp) coalesces the reduced dims into r, permuting them to the
// end only when they are not adjacent. CPU kernels: src/backends/cpu/reduce.cpp.
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// out (outer, inner) = mean over r; NaN when r == 0, as torch.
TSR_DECLARE_STUB(mean_stub, void (*)(Tensor& out, const Tensor& x, int64_t outer, int64_t r, int64_t inner));
// out (outer, inner) = sum((x - mean)^2) / max(0, r - correction), two-pass in double.
TSR_DECLARE_STUB(var_stub, void (*)(Tensor& out, const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                                    int64_t correction));
// gx (outer, r, inner) = scale * g[o, i] * (x - mean over r), the mean recomputed in double.
TSR_DECLARE_STUB(var_backward_stub, void (*)(Tensor& gx, const Tensor& g, const Tensor& x, int64_t outer, int64_t r,
                                             int64_t inner, double scale));
// values, indices (outer, inner): max over r and its first index (first NaN if any). r > 0.
TSR_DECLARE_STUB(max_dim_stub, void (*)(Tensor& values, Tensor& indices, const Tensor& x, int64_t outer, int64_t r,
                                        int64_t inner));
// gx (outer, r, inner), zero-filled by the caller: gx[o, indices[o, i], i] = g[o, i].
TSR_DECLARE_STUB(max_dim_backward_stub, void (*)(Tensor& gx, const Tensor& g, const Tensor& indices, int64_t outer,
                                                 int64_t r, int64_t inner));
// out (0-d) = max of all elements (NaN if any is NaN); x non-empty.
TSR_DECLARE_STUB(max_all_stub, void (*)(Tensor& out, const Tensor& x));
// gx = g / count at the elements equal to `value` (NaN matches NaN), 0 elsewhere.
TSR_DECLARE_STUB(max_all_backward_stub, void (*)(Tensor& gx, const Tensor& g, const Tensor& x, const Tensor& value));
// out (0-d float64) = sum |x|^p over contiguous float x (for infinite p the
// largest |x|, NaN if any is NaN; 0 when x is empty), accumulated in double
// over fixed-size blocks combined in block order: independent of the thread
// count. vector_norm's kernel.
TSR_DECLARE_STUB(pow_sum_stub, void (*)(const Tensor& out, const Tensor& x, double p));

}  // namespace tessera
