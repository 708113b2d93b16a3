// GPT: a decoder-only Transformer language model. By default the GPT-2
// architecture (learned positions, pre-LayerNorm, GELU(tanh) MLP of 4x width,
// tied input/output embeddings, dropout); by config the LLaMA-style variants
// (RMSNorm, rotary positions, SwiGLU MLP, no biases).
//
// Parameter names are Hugging Face GPT-2's (nanoGPT's): transformer.wte.weight,
// transformer.wpe.weight, transformer.h.N.ln_1.{weight,bias},
// transformer.h.N.attn.c_attn.{weight,bias}, transformer.h.N.attn.c_proj.*,
// transformer.h.N.ln_2.*, transformer.h.N.mlp.c_fc.*, transformer.h.N.mlp.c_proj.*
// (SwiGLU adds transformer.h.N.mlp.c_gate.*), transformer.ln_f.*, and
// lm_head.weight (the same tensor as wte when tied; state_dict lists it once
// under transformer.wte.weight). Linear weights are stored (out, in) as
// torch.nn.Linear; Hugging Face's Conv1D layout (in, out) is converted by
// models/hf_gpt2.h on import and export.
//
// Tied embeddings: lm_head reuses transformer.wte.weight, and state_dict lists
// that tensor once, under transformer.wte.weight (as nanoGPT checkpoints and
// HF's model.safetensors, which drops the tied lm_head.weight). Untied models
// also hold lm_head.weight (no bias). The HF importer accepts files with or
// without lm_head.weight.
//
// Initialization (nanoGPT): every Linear and Embedding weight ~ N(0, 0.02),
// residual projections (attn.c_proj, mlp.c_proj) ~ N(0, 0.02 / sqrt(2 n_layer)),
// biases 0, norm weights 1; drawn from a Philox Generator seeded by `seed`, so a
// model is a function of (config, seed). Dropout (embeddings, attention
// weights, residual branches) draws from the model's own generator, whose
// (seed, offset) a checkpoint saves to resume exactly.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/nn/module.h"

namespace tessera::models {

struct GPTConfig {
  int64_t vocab_size = 50257;
  int64_t block_size = 1024;   // context length
  int64_t n_layer = 12, n_head = 12, n_embd = 768;
  double dropout = 0.0;        // embeddings, attention weights, residual branches
  bool bias = true;            // biases in Linear layers and norms
  std::string norm = "layernorm";     // "layernorm" | "rmsnorm"
  std::string position = "learned";   // "learned" | "rope"
  std::string mlp = "gelu";           // "gelu" (tanh form, as GPT-2) | "swiglu"
  int64_t mlp_hidden = 0;      // 0: 4 * n_embd for gelu; for swiglu 2/3 of that rounded up to a multiple of 64
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_embeddings = true;

  // {"vocab_size": ..., "block_size": ..., ...}; unknown keys are errors naming
  // the key; missing keys keep the defaults above; values are validated.
  static GPTConfig from_json(const std::string& json_text);
  std::string to_json() const;  // every field; from_json(to_json()) == *this
  // Throws tessera::Error naming the field and the allowed values.
  void validate() const;
  int64_t head_dim() const { return n_embd / n_head; }
  int64_t hidden_dim() const;  // mlp_hidden, or its default for `mlp`
  bool operator==(const GPTConfig&) const = default;
};

// Keys and values of every layer for incremental decoding. Preallocated to
// max_len positions; `length` positions are filled. One cache per batch of
// sequences that advance together. float32 by default; bfloat16 halves its
// memory and the bytes each decode step reads, at the cost of rounding the
// keys and values (so greedy tokens may differ from full recomputation).
struct KVCache {
  std::vector<Tensor> k, v;  // per layer, (B, n_head, max_len, head_dim)
  int64_t length = 0;
  int64_t max_len = 0;
  void reset() { length = 0; }
  DType dtype() const { return k.empty() ? DType::F32 : k[0].dtype(); }
  int64_t bytes() const;  // of every buffer, all max_len positions
};

class GPT : public nn::Module {
 public:
  explicit GPT(const GPTConfig& config, uint64_t seed = 0);

  // idx (B, T) int64 with T <= block_size -> logits (B, T, vocab_size).
  Tensor forward(const Tensor& idx) override;
  // The same pass without the output projection: the final-norm hidden states
  // (B, T, n_embd) that forward(idx) multiplies by the embedding matrix (for
  // classifiers and other heads). Dropout as forward in training mode.
  Tensor hidden_states(const Tensor& idx);
  // Incremental: idx holds the next T tokens of each sequence, at positions
  // cache.length .. cache.length + T - 1; appends their keys/values and
  // returns their logits (B, T, vocab_size). Records no gradients (runs under
  // NoGradGuard). With T > 1 and a non-empty cache the mask is bottom-right
  // aligned (a query at absolute position p sees keys 0..p). Throws when
  // cache.length + T exceeds cache.max_len or block_size. At temperature 0
  // the tokens it yields equal full recomputation's. last_only: logits of
  // the last position only, (B, 1, vocab_size), which saves the output
  // projection of every other prompt position during generation.
  Tensor forward(const Tensor& idx, KVCache& cache, bool last_only = false);
  // Zeroed buffers; max_len <= block_size. dtype: F32 or BF16 (keys and
  // values rounded to bf16 when stored, read back as float; attention math
  // stays float). Throws DTypeError for any other dtype.
  KVCache make_cache(int64_t batch, int64_t max_len, DType dtype = DType::F32) const;
  // Batched decoding of independent sequences (the serving engine's step):
  // tokens[i] is the next token of sequence i, whose keys and values so far
  // are in caches[i] (a batch-1 cache from make_cache, at its own length).
  // Returns logits (B, vocab_size) and appends each token's keys/values to its
  // cache. The linear layers, norms and MLP run once on the (B, C) rows;
  // positions (learned rows or rotary tables) are per sequence, and each
  // sequence attends over its own cache prefix only, so no padding is
  // involved. Equals forward({{t}}, cache) for each sequence alone up to float
  // rounding (a (B, C) GEMM may round a row differently from a (1, C) one).
  // Inference only: no gradients, no dropout. Throws as forward(idx, cache)
  // does (a full cache, a cache made for another batch or model, an id
  // outside the vocabulary) before changing any cache.
  Tensor decode_step(const std::vector<int32_t>& tokens, const std::vector<KVCache*>& caches);

  // Parameter count (tied embeddings once); without position embeddings when
  // non_embedding (as nanoGPT reports).
  int64_t count_parameters(bool non_embedding = true) const;
  // Training FLOPs per token (forward + backward) at sequence length T:
  // 6 * N + 12 * n_layer * n_embd * T (PaLM appendix B), for MFU.
  double flops_per_token(int64_t T) const;

  const GPTConfig& config() const { return config_; }
  // Draws every dropout mask (state to save in checkpoints).
  Generator& dropout_generator();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  GPTConfig config_;
};

}  // namespace tessera::models
