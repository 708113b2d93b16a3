// Indexing by index tensors: gather, index_select, embedding. Out-of-range
// indices throw IndexError naming the op, the index and the valid range.
#pragma once
#include <optional>

#include "tessera/core/tensor.h"
// Declared here before they had their own headers:
#include "tessera/ops/join.h"
#include "tessera/ops/split.h"
#include "tessera/ops/where.h"

namespace tessera {

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);  // index is int64
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// weight (num_embeddings, dim), indices int64 of any shape -> indices.shape + [dim].
// The row at padding_idx gets no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace tessera
