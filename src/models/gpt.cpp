// GPT of models/gpt.h: GPT-2 blocks (pre-norm attention + MLP with residuals)
// and the LLaMA-style options, one forward for training and for cached
// decoding. Shapes: B batch, T new positions, C = n_embd, H heads, D = C / H,
// S = positions attended (cache length + T).
#include "tessera/models/gpt.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "nn/add_norm.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/nn/init.h"
#include "tessera/nn/layers.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/attention.h"
#include "tessera/ops/decode_attention.h"
#include "tessera/ops/dropout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/indexing.h"
#include "tessera/ops/linalg.h"
#include "tessera/ops/rope.h"
#include "tessera/quant/quantize_model.h"

namespace tessera::models {

namespace {

// What one forward pass shares with every block.
struct Step {
  bool training = false;
  double dropout = 0.0;
  Generator* gen = nullptr;
  int64_t start = 0;       // absolute position of the first new token
  Tensor cos, sin;         // (T, D/2) rotary tables for the new positions (rope only)
  KVCache* cache = nullptr;
  Tensor mask;             // (T, S) bool, bottom-right causal; undefined when is_causal suffices

  Tensor drop(const Tensor& x) const { return training && dropout > 0 ? tessera::dropout(x, dropout, true, *gen) : x; }
};

std::shared_ptr<nn::Module> make_norm(const GPTConfig& c) {
  if (c.norm == "rmsnorm") return std::make_shared<nn::RMSNorm>(nn::RMSNormOptions{{c.n_embd}, c.norm_eps, true});
  return std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{{c.n_embd}, c.norm_eps, true, c.bias});
}

class CausalSelfAttention : public nn::Module {
 public:
  explicit CausalSelfAttention(const GPTConfig& c) : Module("CausalSelfAttention"), c_(c) {
    c_attn = register_module("c_attn", std::make_shared<nn::Linear>(c.n_embd, 3 * c.n_embd, c.bias));
    c_proj = register_module("c_proj", std::make_shared<nn::Linear>(c.n_embd, c.n_embd, c.bias));
  }

  // x (B, T, C) -> (B, T, C); `layer` picks this block's cache buffers.
  Tensor forward(const Tensor& x, const Step& s, size_t layer) {
    const int64_t B = x.size(0), T = x.size(1), C = c_.n_embd, H = c_.n_head, D = C / H;
    Tensor qkv = c_attn->forward(x).view({B, T, 3, H, D});  // one GEMM for q, k and v
    Tensor q = qkv.select(2, 0).transpose(1, 2);            // (B, H, T, D) strided views
    Tensor k = qkv.select(2, 1).transpose(1, 2);
    Tensor v = qkv.select(2, 2).transpose(1, 2);
    if (c_.position == "rope") {
      q = rotary_embedding(q, s.cos, s.sin);  // contiguous (B, H, T, D)
      k = rotary_embedding(k, s.cos, s.sin);
    }
    if (s.cache) {
      // Append in place, then attend over the filled prefix: a view, so a
      // decode step never copies the cache as a whole.
      Tensor& kb = s.cache->k[layer];  // (B, H, max_len, D)
      Tensor& vb = s.cache->v[layer];
      kb.narrow(2, s.start, T).copy_(k);
      vb.narrow(2, s.start, T).copy_(v);
      k = kb.narrow(2, 0, s.start + T);  // (B, H, S, D)
      v = vb.narrow(2, 0, s.start + T);
      if (k.dtype() != q.dtype()) {  // a bf16 cache: attend over the rounded values, as decode_step does
        k = k.to(q.dtype());
        v = v.to(q.dtype());
      }
    }
    const double p = s.training ? s.dropout : 0.0;
    Tensor y = s.mask.defined() ? scaled_dot_product_attention(q, k, v, s.mask, false, p, std::nullopt, s.gen)
                                : scaled_dot_product_attention(q, k, v, Tensor(), /*is_causal=*/T > 1 || !s.cache,
                                                               p, std::nullopt, s.gen);
    y = y.transpose(1, 2).reshape({B, T, C});  // (B, T, C), heads side by side
    return s.drop(c_proj->forward(y));
  }

  std::shared_ptr<nn::Linear> c_attn, c_proj;

 private:
  GPTConfig c_;
};

class MLP : public nn::Module {
 public:
  explicit MLP(const GPTConfig& c) : Module("MLP"), swiglu_(c.mlp == "swiglu") {
    const int64_t h = c.hidden_dim();
    c_fc = register_module("c_fc", std::make_shared<nn::Linear>(c.n_embd, h, c.bias));
    if (swiglu_) c_gate = register_module("c_gate", std::make_shared<nn::Linear>(c.n_embd, h, c.bias));
    c_proj = register_module("c_proj", std::make_shared<nn::Linear>(h, c.n_embd, c.bias));
  }

  Tensor forward(const Tensor& x, const Step& s) {
    Tensor h = swiglu_ ? mul(silu(c_gate->forward(x)), c_fc->forward(x)) : gelu(c_fc->forward(x), "tanh");
    return s.drop(c_proj->forward(h));
  }

  std::shared_ptr<nn::Linear> c_fc, c_gate, c_proj;

 private:
  bool swiglu_;
};

class Block : public nn::Module {
 public:
  explicit Block(const GPTConfig& c) : Module("Block") {
    ln_1 = register_module("ln_1", make_norm(c));
    attn = register_module("attn", std::make_shared<CausalSelfAttention>(c));
    ln_2 = register_module("ln_2", make_norm(c));
    mlp = register_module("mlp", std::make_shared<MLP>(c));
  }

  // The residual stream arrives as x + delta (delta: the previous block's MLP
  // output, undefined for the first block) and leaves the same way, so every
  // residual add is fused with the norm after it (nn::add_norm); the last one
  // with ln_f. Returns {x + delta + attention, mlp output}.
  std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& delta, const Step& s, size_t layer) {
    auto [x1, n1] = delta.defined() ? nn::add_norm(*ln_1, x, delta) : AddNormResult{x, ln_1->forward(x)};
    auto [h, n2] = nn::add_norm(*ln_2, x1, attn->forward(n1, s, layer));
    return {h, mlp->forward(n2, s)};
  }

  std::shared_ptr<nn::Module> ln_1, ln_2;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<MLP> mlp;
};

// The "transformer." level of the parameter names.
class Trunk : public nn::Module {
 public:
  explicit Trunk(const GPTConfig& c) : Module("GPTTransformer") {
    wte = register_module("wte", std::make_shared<nn::Embedding>(c.vocab_size, c.n_embd));
    if (c.position == "learned") wpe = register_module("wpe", std::make_shared<nn::Embedding>(c.block_size, c.n_embd));
    h = register_module("h", std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < c.n_layer; ++i) {
      blocks.push_back(std::make_shared<Block>(c));
      h->push_back(blocks.back());
    }
    ln_f = register_module("ln_f", make_norm(c));
  }
  std::shared_ptr<nn::Embedding> wte, wpe;
  std::shared_ptr<nn::ModuleList> h;
  std::vector<std::shared_ptr<Block>> blocks;
  std::shared_ptr<nn::Module> ln_f;
};

}  // namespace

struct GPT::Impl {
  std::shared_ptr<Trunk> transformer;
  std::shared_ptr<nn::Linear> lm_head;  // only when untied
  Generator dropout_gen;
  Tensor rope_cos, rope_sin;  // (block_size, D/2)

  // idx (B, T) -> logits (B, T, V) for positions start .. start + T - 1.
  Tensor run(const GPTConfig& c, bool training, const Tensor& idx, int64_t start, KVCache* cache,
             bool last_only = false) {
    return head(hidden(c, training, idx, start, cache, last_only));  // (B, T, V)
  }

  // The output projection: lm_head, or the tied embedding matrix; packed
  // (quantized) when the model was loaded so.
  Tensor head(const Tensor& x) const {
    const nn::Linear* untied = lm_head.get();
    const auto& packed = untied ? untied->packed : transformer->wte->packed;
    if (packed) return quant::linear(x, *packed);
    return linear(x, untied ? untied->weight : transformer->wte->weight);
  }

  // Where the weights live (the embedding may be packed, and packed weights are on the CPU).
  Device device() const {
    const Tensor& w = transformer->wte->weight;
    return w.defined() ? w.device() : cpu_device();
  }

  // The trunk: embeddings, blocks and the final norm -> (B, T, C).
  Tensor hidden(const GPTConfig& c, bool training, const Tensor& idx, int64_t start, KVCache* cache,
                bool last_only) {
    const int64_t T = idx.size(1);
    Step s;
    s.training = training;
    s.dropout = c.dropout;
    s.gen = &dropout_gen;
    s.start = start;
    s.cache = cache;
    if (cache && start > 0 && T > 1) {
      // Bottom-right causal: query i (absolute start + i) sees keys j <= start + i.
      const TensorOptions index_opts{.dtype = DType::I64, .device = idx.device()};
      Tensor rows = arange(start, start + T, 1, index_opts).view({T, 1});
      Tensor cols = arange(0, start + T, 1, index_opts).view({1, start + T});
      s.mask = le(cols, rows);  // (T, S)
    }
    Tensor x = transformer->wte->forward(idx);  // (B, T, C)
    if (c.position == "learned") {
      x = add(x, transformer->wpe->weight.narrow(0, start, T));  // + (T, C), broadcast over B
    } else {
      s.cos = rope_cos.narrow(0, start, T);
      s.sin = rope_sin.narrow(0, start, T);
    }
    x = s.drop(x);
    Tensor delta;  // the last block's MLP output, not yet added to x
    for (size_t l = 0; l < transformer->blocks.size(); ++l)
      std::tie(x, delta) = transformer->blocks[l]->forward(x, delta, s, l);
    if (delta.defined() && last_only) {
      x = x.narrow(1, T - 1, 1);  // (B, 1, C)
      delta = delta.narrow(1, T - 1, 1);
    }
    if (delta.defined()) return nn::add_norm(*transformer->ln_f, x, delta).y;
    if (last_only) x = x.narrow(1, T - 1, 1);  // no blocks
    return transformer->ln_f->forward(x);
  }

  // decode_step: one new token per sequence, each at its own position pos[b].
  Tensor decode(const GPTConfig& c, const std::vector<int32_t>& tokens, const std::vector<KVCache*>& caches) {
    const int64_t B = static_cast<int64_t>(tokens.size()), C = c.n_embd;
    const Device device = this->device();
    std::vector<int64_t> ids(tokens.begin(), tokens.end()), pos(B);
    for (int64_t b = 0; b < B; ++b) pos[b] = caches[b]->length;
    const TensorOptions index_opts{.dtype = DType::I64, .device = device};
    Tensor x = transformer->wte->forward(from_vector<int64_t>(ids, {B}, index_opts));  // (B, C)
    if (c.position == "learned")
      x = add(x, index_select(transformer->wpe->weight, 0, from_vector<int64_t>(pos, {B}, index_opts)));
    const Step s;  // no dropout, no cache: the blocks' norms and MLP only
    Tensor y = empty({B, C}, {.dtype = x.dtype(), .device = device});  // attention output, reused by every layer
    std::vector<const Tensor*> k_caches(B), v_caches(B);
    for (size_t l = 0; l < transformer->blocks.size(); ++l) {
      Block& blk = *transformer->blocks[l];
      Tensor qkv = blk.attn->c_attn->forward(blk.ln_1->forward(x)).contiguous();  // (B, 3C): one GEMM
      for (int64_t b = 0; b < B; ++b) {
        k_caches[b] = &caches[b]->k[l];
        v_caches[b] = &caches[b]->v[l];
      }
      decode_attention(y, qkv, k_caches, v_caches, pos, c.n_head, rope_cos, rope_sin);  // rope tables: rope only
      auto [h, n2] = nn::add_norm(*blk.ln_2, x, blk.attn->c_proj->forward(y));
      x = add(h, blk.mlp->forward(n2, s));
    }
    return head(transformer->ln_f->forward(x));  // (B, V)
  }
};

GPT::GPT(const GPTConfig& config, uint64_t seed) : Module("GPT"), impl_(std::make_shared<Impl>()), config_(config) {
  config_.validate();
  const GPTConfig& c = config_;
  impl_->transformer = register_module("transformer", std::make_shared<Trunk>(c));
  if (!c.tie_embeddings) impl_->lm_head = register_module("lm_head", std::make_shared<nn::Linear>(c.n_embd, c.vocab_size, false));
  // Separate streams for weights and dropout, both derived from the seed.
  Generator init_gen(seed);
  impl_->dropout_gen = Generator(seed ^ 0x9E3779B97F4A7C15ull);
  const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(c.n_layer));
  NoGradGuard no_grad;
  for (auto& [name, p] : named_parameters()) {
    Tensor t = p;
    if (t.dim() == 2) {
      const bool residual = name.size() >= 13 && name.compare(name.size() - 13, 13, "c_proj.weight") == 0;
      nn::init::normal_(t, 0.0, residual ? proj_std : 0.02, &init_gen);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      nn::init::zeros_(t);
    }
  }
  if (c.position == "rope") {
    auto [cs, sn] = rotary_tables(0, c.block_size, c.head_dim(), c.rope_theta);
    impl_->rope_cos = cs;
    impl_->rope_sin = sn;
  }
}

Generator& GPT::dropout_generator() { return impl_->dropout_gen; }

namespace {
void check_idx(const Tensor& idx, const GPTConfig& c) {
  TSR_CHECK(idx.defined() && idx.dtype() == DType::I64 && idx.dim() == 2, ShapeError,
            "GPT: expected token ids (B, T) of dtype int64, got ",
            idx.defined() ? dtype_name(idx.dtype()) + std::string(" ") + shape_str(idx.shape()) : "undefined");
  TSR_CHECK(idx.size(1) >= 1, ShapeError, "GPT: need at least one position, got shape ", shape_str(idx.shape()));
}
}  // namespace

Tensor GPT::forward(const Tensor& idx) {
  check_idx(idx, config_);
  TSR_CHECK(idx.size(1) <= config_.block_size, ShapeError, "GPT: sequence length ", idx.size(1),
            " exceeds block_size ", config_.block_size);
  return impl_->run(config_, is_training(), idx, 0, nullptr);
}

Tensor GPT::hidden_states(const Tensor& idx) {
  check_idx(idx, config_);
  TSR_CHECK(idx.size(1) <= config_.block_size, ShapeError, "GPT: sequence length ", idx.size(1),
            " exceeds block_size ", config_.block_size);
  return impl_->hidden(config_, is_training(), idx, 0, nullptr, false);
}

Tensor GPT::forward(const Tensor& idx, KVCache& cache, bool last_only) {
  check_idx(idx, config_);
  const int64_t B = idx.size(0), T = idx.size(1), L = config_.n_layer;
  TSR_CHECK(static_cast<int64_t>(cache.k.size()) == L && static_cast<int64_t>(cache.v.size()) == L, Error,
            "GPT: KV cache has ", cache.k.size(), " layers, the model ", L, " (use make_cache)");
  TSR_CHECK(cache.k[0].size(0) == B, ShapeError, "GPT: KV cache was made for batch ", cache.k[0].size(0),
            ", got token ids of shape ", shape_str(idx.shape()));
  TSR_CHECK(cache.length >= 0 && cache.length + T <= cache.max_len, ShapeError, "GPT: KV cache holds ",
            cache.length, " of ", cache.max_len, " positions; ", T, " more do not fit");
  TSR_CHECK(cache.length + T <= config_.block_size, ShapeError, "GPT: position ", cache.length + T - 1,
            " is beyond block_size ", config_.block_size);
  NoGradGuard no_grad;
  Tensor logits = impl_->run(config_, is_training(), idx, cache.length, &cache, last_only);
  cache.length += T;
  return logits;
}

Tensor GPT::decode_step(const std::vector<int32_t>& tokens, const std::vector<KVCache*>& caches) {
  const GPTConfig& c = config_;
  const int64_t B = static_cast<int64_t>(tokens.size()), L = c.n_layer;
  TSR_CHECK(B >= 1 && tokens.size() == caches.size(), ShapeError, "GPT::decode_step: got ", tokens.size(),
            " tokens and ", caches.size(), " caches (need one cache per token, at least one)");
  for (int64_t b = 0; b < B; ++b) {
    const KVCache* kv = caches[b];
    TSR_CHECK(kv != nullptr, Error, "GPT::decode_step: cache ", b, " is null");
    TSR_CHECK(tokens[b] >= 0 && tokens[b] < c.vocab_size, IndexError, "GPT::decode_step: token ", b, " is id ",
              tokens[b], ", outside the vocabulary [0, ", c.vocab_size, ")");
    TSR_CHECK(static_cast<int64_t>(kv->k.size()) == L && static_cast<int64_t>(kv->v.size()) == L, Error,
              "GPT::decode_step: cache ", b, " has ", kv->k.size(), " layers, the model ", L, " (use make_cache)");
    for (int64_t l = 0; l < L; ++l)
      for (const Tensor* t : {&kv->k[l], &kv->v[l]})
        TSR_CHECK(t->defined() && t->dtype() == kv->k[0].dtype() &&
                      (t->dtype() == DType::F32 || t->dtype() == DType::BF16) && t->is_contiguous() && t->dim() == 4 &&
                      t->size(1) == c.n_head && t->size(2) == kv->max_len && t->size(3) == c.head_dim(),
                  ShapeError, "GPT::decode_step: cache ", b, " layer ", l, " is not a (1, ", c.n_head, ", ",
                  kv->max_len, ", ", c.head_dim(), ") float32 or bfloat16 buffer from make_cache, got ",
                  t->defined() ? dtype_name(t->dtype()) + std::string(" ") + shape_str(t->shape()) : "undefined");
    TSR_CHECK(kv->k[0].size(0) == 1, ShapeError, "GPT::decode_step: cache ", b, " was made for batch ",
              kv->k[0].size(0), "; decode_step takes one batch-1 cache per sequence");
    TSR_CHECK(kv->length >= 0 && kv->length + 1 <= kv->max_len, ShapeError, "GPT::decode_step: cache ", b,
              " holds ", kv->length, " of ", kv->max_len, " positions; 1 more does not fit");
    TSR_CHECK(kv->length + 1 <= c.block_size, ShapeError, "GPT::decode_step: sequence ", b, ": position ",
              kv->length, " is beyond block_size ", c.block_size);
  }
  std::vector<const KVCache*> sorted(caches.begin(), caches.end());
  std::sort(sorted.begin(), sorted.end());
  TSR_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), Error,
            "GPT::decode_step: the same cache is given for two sequences");
  NoGradGuard no_grad;
  Tensor logits = impl_->decode(c, tokens, caches);
  for (KVCache* kv : caches) ++kv->length;
  return logits;
}

int64_t KVCache::bytes() const {
  int64_t n = 0;
  for (const auto* side : {&k, &v})
    for (const Tensor& t : *side) n += t.numel() * static_cast<int64_t>(dtype_size(t.dtype()));
  return n;
}

KVCache GPT::make_cache(int64_t batch, int64_t max_len, DType dtype) const {
  TSR_CHECK(dtype == DType::F32 || dtype == DType::BF16, DTypeError, "GPT: make_cache: the KV cache dtype must be ",
            "float32 or bfloat16, got ", dtype_name(dtype));
  TSR_CHECK(batch > 0 && max_len > 0 && max_len <= config_.block_size, ShapeError,
            "GPT: make_cache needs batch > 0 and 0 < max_len <= block_size (", config_.block_size, "), got batch ",
            batch, ", max_len ", max_len);
  KVCache cache;
  cache.max_len = max_len;
  const Shape shape{batch, config_.n_head, max_len, config_.head_dim()};  // (B, H, max_len, D)
  const TensorOptions opts{.dtype = dtype, .device = impl_->device()};
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    cache.k.push_back(zeros(shape, opts));
    cache.v.push_back(zeros(shape, opts));
  }
  return cache;
}

int64_t GPT::count_parameters(bool non_embedding) const {
  int64_t n = num_parameters();  // the tied matrix is registered once
  for (const auto& [name, w] : quant::packed_weights(const_cast<GPT&>(*this))) n += w.rows * w.cols;
  if (non_embedding && config_.position == "learned") n -= config_.block_size * config_.n_embd;
  return n;
}

double GPT::flops_per_token(int64_t T) const {
  return 6.0 * static_cast<double>(count_parameters(true)) +
         12.0 * static_cast<double>(config_.n_layer * config_.n_embd * T);
}

}  // namespace tessera::models
