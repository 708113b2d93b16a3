// Joining, splitting, selecting and indexing. Out-of-range indices throw
// IndexError naming the op, the index and the valid range.
#pragma once
#include <optional>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);            // views
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond is Bool; broadcasts
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);  // mask is Bool; broadcasts
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);      // index is int64
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// weight (num_embeddings, dim), indices int64 of any shape -> indices.shape + [dim].
// The row at padding_idx gets no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace tessera
