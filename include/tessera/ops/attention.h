// Scaled dot-product attention, as torch.nn.functional.scaled_dot_product_attention.
#pragma once
#include <optional>

#include "tessera/core/random.h"
#include "tessera/core/tensor.h"

namespace tessera {

// q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev).
// attn_mask broadcastable to (..., L, S): Bool (true = attend) or float (added to scores).
// is_causal masks key j > query i (top-left aligned, as torch). scale defaults to 1/sqrt(E).
// dropout_p > 0 drops attention weights with `gen` (default generator if null);
// weight (b, i, j) uses counter offset + (b * L + i) * S + j over the flattened
// broadcast batch, as dropout() does for a tensor of shape (..., L, S).
// attn_mask and is_causal may be combined. A query row with every key masked
// gives NaN (as softmax over all -inf in torch 1.13); like torch's masked_fill
// backward, bool/causal-masked scores send zero gradient to q and k.
// A float mask that requires grad receives its gradient.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask = Tensor(), bool is_causal = false,
                                    double dropout_p = 0.0, std::optional<double> scale = std::nullopt,
                                    Generator* gen = nullptr);

}  // namespace tessera
