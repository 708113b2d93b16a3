// Kernel stubs for gather / index_select / embedding. The frontend
// (src/ops/indexing.cpp) validates every index with index_range_stub before
// calling a kernel, so kernels never see an out-of-range index. CPU kernels
// live in src/backends/cpu/indexing.cpp.
#pragma once
#include <cstdint>
#include <optional>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// Where an index tensor first leaves its valid range: the flat position of the
// first entry outside [0, size) (position -1 when there is none) and that entry.
struct IndexRangeViolation {
  int64_t position = -1;
  int64_t value = 0;
};
// Scans a contiguous int64 `index` in order; entries equal to `allowed` (a
// loss's ignore_index) pass whatever their value. Returns the first violation.
TSR_DECLARE_STUB(index_range_stub, IndexRangeViolation (*)(const Tensor& index, int64_t size,
                                                           std::optional<int64_t> allowed));

// out[p] = x[p with coordinate `dim` replaced by index[p]] for every position p
// of index.shape() (== out.shape()). index is int64 and may be a broadcast view
// (index_select passes a 1-D index expanded to the output shape); x is any
// strided tensor whose sizes cover index's in every dim but `dim`.
TSR_DECLARE_STUB(gather_stub, void (*)(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index));
// The adjoint: gx[p with `dim` replaced by index[p]] += g[p]. gx is zeroed by
// the caller. Parallel over the coordinates other than `dim` only, summing along
// `dim` in order, so no two threads touch one element and the result is
// bit-identical run to run.
TSR_DECLARE_STUB(gather_backward_stub,
                 void (*)(const Tensor& gx, const Tensor& g, int64_t dim, const Tensor& index));

// out (n, D) = weight[indices[i], :]; weight (V, D) and indices (n) contiguous.
TSR_DECLARE_STUB(embedding_stub, void (*)(const Tensor& out, const Tensor& weight, const Tensor& indices));
// gw (V, D) = sum over i with indices[i] == v of g[i, :], except row padding_idx
// (pass -1 for none). Rows are bucketed by a stable counting sort and each
// thread owns whole rows: deterministic, no atomics.
TSR_DECLARE_STUB(embedding_backward_stub,
                 void (*)(const Tensor& gw, const Tensor& g, const Tensor& indices, int64_t padding_idx));

}  // namespace tessera
