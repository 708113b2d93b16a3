// One step of cached causal self-attention for a batch of independent
// sequences, each at its own position: the attention of batched decoding
// (GPT::decode_step, the serving engine).
#pragma once
#include <cstdint>
#include <span>

#include "tessera/core/tensor.h"

namespace tessera {

// qkv (B, 3*H*D): one row per sequence, [q | k | v] with heads side by side
// (a fused q/k/v projection's output). k_caches[b], v_caches[b]: sequence b's
// cache buffers, contiguous (1, H, max_len, D), distinct per sequence, all of
// qkv's dtype or all bfloat16 with float32 qkv (new keys and values rounded
// to nearest even; scores, softmax and sums stay float).
// positions[b]: how many positions sequence b has cached; its new key and
// value are stored there, and its query attends to keys 0..positions[b].
// rope_cos / rope_sin: (positions, D/2) rotary tables (ops/rope.h) applied to
// q and k at positions[b], or both undefined for none. Writes out (B, H*D),
// heads side by side, and allocates no tensor. Inference only: throws
// AutogradError when qkv requires grad while grad mode is on.
void decode_attention(const Tensor& out, const Tensor& qkv, std::span<const Tensor* const> k_caches,
                      std::span<const Tensor* const> v_caches, std::span<const int64_t> positions,
                      int64_t num_heads, const Tensor& rope_cos = Tensor(), const Tensor& rope_sin = Tensor());

}  // namespace tessera
