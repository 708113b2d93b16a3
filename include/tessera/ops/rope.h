// Rotary position embedding (RoPE, Su et al. 2021) in Hugging Face LLaMA's
// "rotate_half" convention: the head dimension D is split into halves
// (x1 = x[..., :D/2], x2 = x[..., D/2:]) and pair i rotates (x1[i], x2[i]) by
// the angle pos * theta^(-2i/D). Checkpoints converted from HF Llama use this
// pairing; the interleaved (GPT-J / Meta original) pairing would need their
// q/k weights permuted.
#pragma once
#include <utility>

#include "tessera/core/tensor.h"

namespace tessera {

// x (..., T, D) with D even, any strides; cos, sin (T, D/2) of x's dtype
// (rows for the T positions of x). Returns a contiguous (..., T, D):
//   out[..., t, i]       = x1[i] cos[t, i] - x2[i] sin[t, i]
//   out[..., t, i + D/2] = x2[i] cos[t, i] + x1[i] sin[t, i]
// Gradient flows to x only: the tables are constants (an error if they
// require grad, rather than a silently missing gradient).
Tensor rotary_embedding(const Tensor& x, const Tensor& cos, const Tensor& sin);

// Tables (len, head_dim / 2) for positions start .. start + len - 1, computed
// in float32 as transformers' LlamaRotaryEmbedding does (inv_freq =
// 1 / theta^(2i/D), angle = pos * inv_freq), then converted to `dtype`.
std::pair<Tensor, Tensor> rotary_tables(int64_t start, int64_t len, int64_t head_dim, double theta = 10000.0,
                                        DType dtype = DType::F32);

}  // namespace tessera
