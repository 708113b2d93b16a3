// Kernel stub for one step of cached decoding attention (frontend
// src/ops/decode_attention.cpp, CPU kernel src/backends/cpu/decode_attention.cpp).
#pragma once
#include <cstdint>
#include <span>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

struct DecodeAttentionParams {
  int64_t B = 0, H = 0, D = 0;  // sequences, heads, head dim
  double scale = 1.0;           // on the scores: 1 / sqrt(D)
};

// For every sequence b and head h: q and k are row b of qkv (B, 3*H*D,
// contiguous; [q | k | v], heads side by side), rotated at position
// positions[b] when cos and sin are defined (contiguous (positions, D/2)
// tables); k and v are stored at row positions[b] of head h of k_caches[b] and
// v_caches[b] (contiguous (1, H, max_len, D)); then out (B, H*D, contiguous)
// gets softmax(scale * q . K[0..positions[b]]) V[0..positions[b]]. Scores are
// dot products in the tensor's dtype, max-subtracted exp, summed in double:
// the arithmetic of attention_stub, so decoding agrees with a full forward.
// The caches are either qkv's dtype or, for float32 qkv, all bfloat16: the
// new key and value are rounded to bf16 and the cached rows read as float.
TSR_DECLARE_STUB(decode_attention_stub,
                 void (*)(const Tensor& out, const Tensor& qkv, std::span<const Tensor* const> k_caches,
                          std::span<const Tensor* const> v_caches, std::span<const int64_t> positions,
                          const Tensor& cos, const Tensor& sin, const DecodeAttentionParams& p));

namespace cpu::testing {
// Tests: run the scalar bf16-cache loops even where the CPU has AVX-512, and
// ask which ones run.
void decode_attention_force_scalar(bool on);
bool decode_attention_vector_bf16();
}  // namespace cpu::testing

}  // namespace tessera
