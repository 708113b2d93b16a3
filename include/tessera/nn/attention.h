// MultiheadAttention, as torch.nn.MultiheadAttention: the same parameters
// (in_proj_weight (3E, E), in_proj_bias (3E), out_proj.weight, out_proj.bias;
// q/k/v_proj_weight when kdim or vdim differ from embed_dim), the same default
// initialization and the same mask conventions.
//
// Mask conventions follow torch's MHA, NOT scaled_dot_product_attention:
//   key_padding_mask (N, S): Bool, true = this key is padding (ignored); or
//     float, added to the scores.
//   attn_mask (L, S) or (N*num_heads, L, S): Bool, true = NOT allowed to
//     attend; or float, added to the scores.
//   is_causal: query i may not attend to key j > i (combined with attn_mask if
//     both are given). Unlike torch 2.x, where it is only a hint about
//     attn_mask, here it applies the mask itself.
// A query whose keys are all masked gives NaN, as in torch.
#pragma once
#include <optional>

#include "tessera/core/random.h"
#include "tessera/nn/layers.h"

namespace tessera::nn {

struct MultiheadAttentionOptions {
  int64_t embed_dim = 0;
  int64_t num_heads = 1;
  double dropout = 0.0;  // on the attention weights, in training mode
  bool bias = true;
  bool batch_first = false;  // (N, L, E) instead of (L, N, E)
  std::optional<int64_t> kdim = std::nullopt;  // key features; default embed_dim
  std::optional<int64_t> vdim = std::nullopt;  // value features; default embed_dim
};

struct AttentionOutput {
  Tensor output;   // (L, N, E), (N, L, E) if batch_first, or (L, E) unbatched
  Tensor weights;  // (N, L, S) averaged over heads, (N, H, L, S) if not; undefined unless need_weights
};

class MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(const MultiheadAttentionOptions& o);
  MultiheadAttention(int64_t embed_dim, int64_t num_heads)
      : MultiheadAttention(MultiheadAttentionOptions{embed_dim, num_heads}) {}

  // query (L, N, E), key (S, N, kdim), value (S, N, vdim) (batch first if
  // batch_first), or unbatched (L, E), (S, kdim), (S, vdim) with masks
  // key_padding_mask (S) and attn_mask (L, S) or (num_heads, L, S).
  // need_weights = false takes the fused attention kernel and returns no weights.
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                          const Tensor& key_padding_mask = Tensor(), bool need_weights = true,
                          const Tensor& attn_mask = Tensor(), bool average_attn_weights = true,
                          bool is_causal = false);
  // Self-attention without masks or weights (for Sequential).
  Tensor forward(const Tensor& x) override { return forward(x, x, x, Tensor(), false).output; }

  void reset_parameters();
  Generator& generator() { return gen_; }

  MultiheadAttentionOptions options;
  int64_t head_dim;
  Tensor& in_proj_weight;  // (3E, E), or undefined when kdim/vdim differ
  Tensor& q_proj_weight;   // (E, E) or undefined
  Tensor& k_proj_weight;   // (E, kdim) or undefined
  Tensor& v_proj_weight;   // (E, vdim) or undefined
  Tensor& in_proj_bias;    // (3E) or undefined
  std::shared_ptr<Linear> out_proj;

 private:
  std::string describe() const;
  Generator gen_;
};

// A float (L, S) mask of -inf where key j > query i, 0 elsewhere (top-left aligned).
Tensor causal_mask(int64_t L, int64_t S, DType dtype = DType::F32, Device device = cpu_device());

}  // namespace tessera::nn
