// BertModel and BertForMaskedLM of models/bert.h, block for block as
// transformers' modeling_bert.py (eager attention) so the float32 results
// agree to rounding. Shapes: B batch, T positions, C = hidden_size, H heads,
// D = C / H.
#include "tessera/models/bert.h"

#include <cmath>
#include <limits>

#include "nn/add_norm.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/nn/init.h"
#include "tessera/nn/layers.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/attention.h"
#include "tessera/ops/dropout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/linalg.h"

namespace tessera::models {

namespace {

// What one forward pass shares with every layer.
struct Step {
  bool training = false;
  double hidden_p = 0.0, attn_p = 0.0;
  Generator* gen = nullptr;
  Tensor mask;  // (B, 1, 1, T) additive float, or undefined (no padding)

  Tensor drop(const Tensor& x) const { return training && hidden_p > 0 ? dropout(x, hidden_p, true, *gen) : x; }
};

Tensor activation(const std::string& act, const Tensor& x) {
  if (act == "gelu") return gelu(x, "none");
  if (act == "relu") return relu(x);
  return gelu(x, "tanh");  // gelu_new / gelu_pytorch_tanh (validate() allows nothing else)
}

std::shared_ptr<nn::LayerNorm> make_ln(const BertConfig& c) {
  return std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{{c.hidden_size}, c.layer_norm_eps, true, true});
}

class Embeddings : public nn::Module {
 public:
  explicit Embeddings(const BertConfig& c) : Module("BertEmbeddings") {
    word_embeddings = register_module(
        "word_embeddings", std::make_shared<nn::Embedding>(nn::EmbeddingOptions{c.vocab_size, c.hidden_size, c.pad_token_id}));
    position_embeddings =
        register_module("position_embeddings", std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size));
    token_type_embeddings =
        register_module("token_type_embeddings", std::make_shared<nn::Embedding>(c.type_vocab_size, c.hidden_size));
    LayerNorm = register_module("LayerNorm", make_ln(c));
  }

  // HF's order: words + token types, then + positions, LayerNorm, dropout.
  Tensor forward(const Tensor& ids, const Tensor& token_types, const Step& s) {
    const int64_t T = ids.size(1);
    Tensor x = word_embeddings->forward(ids);  // (B, T, C)
    // Without token types HF looks up a zero buffer: row 0 for every position.
    x = add(x, token_types.defined() ? token_type_embeddings->forward(token_types)
                                     : token_type_embeddings->weight.narrow(0, 0, 1));
    x = add(x, position_embeddings->weight.narrow(0, 0, T));  // (T, C), broadcast over B
    return s.drop(LayerNorm->forward(x));
  }

  std::shared_ptr<nn::Embedding> word_embeddings, position_embeddings, token_type_embeddings;
  std::shared_ptr<nn::LayerNorm> LayerNorm;
};

class SelfAttention : public nn::Module {
 public:
  explicit SelfAttention(const BertConfig& c) : Module("BertSelfAttention"), H_(c.num_attention_heads) {
    query = register_module("query", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
    key = register_module("key", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
    value = register_module("value", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
  }

  // x (B, T, C) -> context (B, T, C), heads side by side.
  Tensor forward(const Tensor& x, const Step& s) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), D = C / H_;
    auto heads = [&](const Tensor& t) { return t.view({B, T, H_, D}).transpose(1, 2); };  // (B, H, T, D)
    Tensor q = heads(query->forward(x)), k = heads(key->forward(x)), v = heads(value->forward(x));
    const double p = s.training ? s.attn_p : 0.0;
    Tensor y = scaled_dot_product_attention(q, k, v, s.mask, false, p, std::nullopt, s.gen);
    return y.transpose(1, 2).reshape({B, T, C});
  }

  std::shared_ptr<nn::Linear> query, key, value;

 private:
  int64_t H_;
};

// dense -> dropout -> LayerNorm(. + residual), the add fused with the norm: BertSelfOutput and BertOutput.
class DenseNorm : public nn::Module {
 public:
  DenseNorm(const BertConfig& c, int64_t in, const char* type) : Module(type) {
    dense = register_module("dense", std::make_shared<nn::Linear>(in, c.hidden_size));
    LayerNorm = register_module("LayerNorm", make_ln(c));
  }
  Tensor forward(const Tensor& h, const Tensor& residual, const Step& s) {
    return nn::add_norm(*LayerNorm, s.drop(dense->forward(h)), residual).y;
  }
  std::shared_ptr<nn::Linear> dense;
  std::shared_ptr<nn::LayerNorm> LayerNorm;
};

class Attention : public nn::Module {
 public:
  explicit Attention(const BertConfig& c) : Module("BertAttention") {
    self = register_module("self", std::make_shared<SelfAttention>(c));
    output = register_module("output", std::make_shared<DenseNorm>(c, c.hidden_size, "BertSelfOutput"));
  }
  Tensor forward(const Tensor& x, const Step& s) { return output->forward(self->forward(x, s), x, s); }
  std::shared_ptr<SelfAttention> self;
  std::shared_ptr<DenseNorm> output;
};

class Intermediate : public nn::Module {
 public:
  explicit Intermediate(const BertConfig& c) : Module("BertIntermediate"), act_(c.hidden_act) {
    dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size));
  }
  Tensor forward(const Tensor& x) override { return activation(act_, dense->forward(x)); }
  std::shared_ptr<nn::Linear> dense;

 private:
  std::string act_;
};

class Layer : public nn::Module {
 public:
  explicit Layer(const BertConfig& c) : Module("BertLayer") {
    attention = register_module("attention", std::make_shared<Attention>(c));
    intermediate = register_module("intermediate", std::make_shared<Intermediate>(c));
    output = register_module("output", std::make_shared<DenseNorm>(c, c.intermediate_size, "BertOutput"));
  }
  Tensor forward(const Tensor& x, const Step& s) {
    Tensor a = attention->forward(x, s);
    return output->forward(intermediate->forward(a), a, s);
  }
  std::shared_ptr<Attention> attention;
  std::shared_ptr<Intermediate> intermediate;
  std::shared_ptr<DenseNorm> output;
};

class Encoder : public nn::Module {
 public:
  explicit Encoder(const BertConfig& c) : Module("BertEncoder") {
    layer = register_module("layer", std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      layers.push_back(std::make_shared<Layer>(c));
      layer->push_back(layers.back());
    }
  }
  std::shared_ptr<nn::ModuleList> layer;
  std::vector<std::shared_ptr<Layer>> layers;
};

class Pooler : public nn::Module {
 public:
  explicit Pooler(const BertConfig& c) : Module("BertPooler") {
    dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
  }
  std::shared_ptr<nn::Linear> dense;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// HF's _init_weights over every parameter of `m`: matrices (Linear and
// Embedding weights) N(0, 0.02), biases 0, LayerNorm weights 1.
void init_like_hf(nn::Module& m, Generator& gen) {
  NoGradGuard no_grad;
  for (auto& [name, p] : m.named_parameters()) {
    Tensor t = p;
    if (t.dim() == 2)
      nn::init::normal_(t, 0.0, 0.02, &gen);
    else if (ends_with(name, "LayerNorm.weight"))
      nn::init::ones_(t);
    else
      nn::init::zeros_(t);
  }
}

// (B, T) ids of dtype int64, or an error naming `what`.
void check_ids(const Tensor& t, const char* what, const Shape* like) {
  TSR_CHECK(t.defined() && t.dtype() == DType::I64 && t.dim() == 2, ShapeError, "BERT: expected ", what,
            " (B, T) of dtype int64, got ",
            t.defined() ? dtype_name(t.dtype()) + std::string(" ") + shape_str(t.shape()) : "undefined");
  if (like)
    TSR_CHECK(t.shape() == *like, ShapeError, "BERT: ", what, " has shape ", shape_str(t.shape()),
              ", input_ids ", shape_str(*like));
}

}  // namespace

struct BertModel::Impl {
  std::shared_ptr<Embeddings> embeddings;
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Pooler> pooler;
  Generator dropout_gen;
};

BertModel::BertModel(const BertConfig& config, uint64_t seed, bool with_pooler)
    : Module("BertModel"), impl_(std::make_shared<Impl>()), config_(config) {
  config_.validate();
  impl_->embeddings = register_module("embeddings", std::make_shared<Embeddings>(config_));
  impl_->encoder = register_module("encoder", std::make_shared<Encoder>(config_));
  if (with_pooler) impl_->pooler = register_module("pooler", std::make_shared<Pooler>(config_));
  // Separate streams for weights and dropout, both derived from the seed (as GPT).
  Generator init_gen(seed);
  impl_->dropout_gen = Generator(seed ^ 0x9E3779B97F4A7C15ull);
  init_like_hf(*this, init_gen);
  NoGradGuard no_grad;
  impl_->embeddings->word_embeddings->weight.select(0, config_.pad_token_id).fill_(0.0);
}

Tensor BertModel::forward(const Tensor& input_ids) { return forward(input_ids, Tensor(), Tensor()); }

Tensor BertModel::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids) {
  const BertConfig& c = config_;
  check_ids(input_ids, "input_ids", nullptr);
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  TSR_CHECK(T >= 1 && T <= c.max_position_embeddings, ShapeError, "BERT: sequence length ", T,
            " must be in [1, max_position_embeddings = ", c.max_position_embeddings, "]");
  if (token_type_ids.defined()) check_ids(token_type_ids, "token_type_ids", &input_ids.shape());
  Step s;
  s.training = is_training();
  s.hidden_p = c.hidden_dropout_prob;
  s.attn_p = c.attention_probs_dropout_prob;
  s.gen = &impl_->dropout_gen;
  if (attention_mask.defined()) {
    TSR_CHECK(attention_mask.shape() == input_ids.shape(), ShapeError, "BERT: attention_mask has shape ",
              shape_str(attention_mask.shape()), ", input_ids ", shape_str(input_ids.shape()));
    // HF's extended mask: (1 - mask) * finfo(float32).min added to the scores
    // of padding keys; a large finite value, so exp() underflows to exactly 0.
    Tensor m = attention_mask.detach().to(DType::F32);
    s.mask = mul(add(neg(m), 1.0), static_cast<double>(std::numeric_limits<float>::lowest())).view({B, 1, 1, T});
  }
  Tensor x = impl_->embeddings->forward(input_ids, token_type_ids, s);
  for (auto& layer : impl_->encoder->layers) x = layer->forward(x, s);
  return x;
}

Tensor BertModel::pool(const Tensor& last_hidden) {
  TSR_CHECK(impl_->pooler != nullptr, Error, "BERT: this model has no pooler (built with with_pooler = false, "
                                             "or loaded from a file without pooler.* tensors)");
  TSR_CHECK(last_hidden.defined() && last_hidden.dim() == 3 && last_hidden.size(2) == config_.hidden_size,
            ShapeError, "BERT: pool expects hidden states (B, T, ", config_.hidden_size, "), got ",
            last_hidden.defined() ? shape_str(last_hidden.shape()) : "undefined");
  return tanh(impl_->pooler->dense->forward(last_hidden.select(1, 0)));
}

bool BertModel::has_pooler() const { return impl_->pooler != nullptr; }

Generator& BertModel::dropout_generator() { return impl_->dropout_gen; }

// ---- BertForMaskedLM ----

namespace {

class PredictionTransform : public nn::Module {
 public:
  explicit PredictionTransform(const BertConfig& c) : Module("BertPredictionHeadTransform") {
    dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size));
    LayerNorm = register_module("LayerNorm", make_ln(c));
  }
  std::shared_ptr<nn::Linear> dense;
  std::shared_ptr<nn::LayerNorm> LayerNorm;
};

// cls.predictions: the transform and the output bias (the decoder weight is
// the word embedding matrix).
class LMPrediction : public nn::Module {
 public:
  explicit LMPrediction(const BertConfig& c)
      : Module("BertLMPredictionHead"), bias(register_parameter("bias", zeros({c.vocab_size}))) {
    transform = register_module("transform", std::make_shared<PredictionTransform>(c));
  }
  std::shared_ptr<PredictionTransform> transform;
  Tensor& bias;
};

class OnlyMLMHead : public nn::Module {
 public:
  explicit OnlyMLMHead(const BertConfig& c) : Module("BertOnlyMLMHead") {
    predictions = register_module("predictions", std::make_shared<LMPrediction>(c));
  }
  std::shared_ptr<LMPrediction> predictions;
};

}  // namespace

struct BertForMaskedLM::Impl {
  std::shared_ptr<OnlyMLMHead> cls;
};

BertForMaskedLM::BertForMaskedLM(const BertConfig& config, uint64_t seed)
    : Module("BertForMaskedLM"), impl_(std::make_shared<Impl>()) {
  bert = register_module("bert", std::make_shared<BertModel>(config, seed, /*with_pooler=*/false));
  impl_->cls = register_module("cls", std::make_shared<OnlyMLMHead>(bert->config()));
  // The head's own stream, so the encoder's weights equal BertModel(config, seed)'s.
  Generator head_gen(seed ^ 0xC2B2AE3D27D4EB4Full);
  init_like_hf(*impl_->cls, head_gen);
}

Tensor BertForMaskedLM::forward(const Tensor& input_ids) { return forward(input_ids, Tensor(), Tensor()); }

Tensor BertForMaskedLM::forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids) {
  Tensor h = bert->forward(input_ids, attention_mask, token_type_ids);
  const LMPrediction& p = *impl_->cls->predictions;
  h = p.transform->LayerNorm->forward(activation(bert->config().hidden_act, p.transform->dense->forward(h)));
  return linear(h, bert->parameter("embeddings.word_embeddings.weight"), p.bias);  // (B, T, V)
}

}  // namespace tessera::models
