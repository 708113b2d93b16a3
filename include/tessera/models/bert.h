// BERT: a bidirectional Transformer encoder, numerically Hugging Face
// transformers' BertModel (post-LayerNorm blocks, absolute learned positions,
// token-type embeddings, key-padding attention mask), plus BertForMaskedLM and
// the import/export of save_pretrained folders (config.json + model.safetensors).
//
// Parameter names are HF's: embeddings.{word_embeddings,position_embeddings,
// token_type_embeddings}.weight, embeddings.LayerNorm.{weight,bias},
// encoder.layer.N.attention.self.{query,key,value}.{weight,bias},
// encoder.layer.N.attention.output.{dense,LayerNorm}.*,
// encoder.layer.N.intermediate.dense.*, encoder.layer.N.output.{dense,LayerNorm}.*,
// pooler.dense.* (with a pooler). Every projection is an nn::Linear registered
// under those names, so adapters (LoRA) can find them by path.
//
// Initialization as HF's _init_weights: Linear and Embedding weights ~ N(0, 0.02),
// biases 0, LayerNorm 1 / 0, the pad_token_id row of word_embeddings 0; drawn
// from a Philox Generator seeded by `seed`. Dropout (embeddings, attention
// probabilities, the residual branches) draws from the model's own generator.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/nn/module.h"

namespace tessera::models {

// Field names are config.json's keys.
struct BertConfig {
  int64_t vocab_size = 30522, hidden_size = 768, num_hidden_layers = 12, num_attention_heads = 12,
          intermediate_size = 3072, max_position_embeddings = 512, type_vocab_size = 2, pad_token_id = 0;
  double hidden_dropout_prob = 0.1, attention_probs_dropout_prob = 0.1, layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";  // "gelu" (erf) | "gelu_new" / "gelu_pytorch_tanh" (tanh) | "relu"

  // HF config.json text. Keys that do not change the computation are ignored;
  // position_embedding_type other than "absolute", is_decoder true and
  // add_cross_attention true are errors naming the key; missing keys keep the
  // defaults above; the result is validated. `origin` names the text in errors.
  static BertConfig from_json(const std::string& json_text, const std::string& origin = "config.json");
  // HF-style config.json text, with "model_type": "bert" and
  // "architectures": ["BertModel"]; from_json(to_json()) == *this.
  std::string to_json() const;
  // Throws tessera::Error naming the field.
  void validate() const;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool operator==(const BertConfig&) const = default;
};

class BertModel : public nn::Module {
 public:
  explicit BertModel(const BertConfig& config, uint64_t seed = 0, bool with_pooler = true);

  // input_ids (B, T) int64, T <= max_position_embeddings; attention_mask (B, T)
  // int64 / int32 / bool / float, 1 = token, 0 = padding (undefined: all
  // tokens); token_type_ids (B, T) int64 (undefined: zeros). Returns the last
  // hidden state (B, T, hidden_size). Padding keys get HF's additive
  // finfo(float32).min, so real tokens do not see them; the hidden states at
  // padding positions are computed but meaningless.
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids = Tensor());
  Tensor forward(const Tensor& input_ids) override;  // no mask, token type 0
  // tanh(pooler.dense(last_hidden[:, 0])) -> (B, hidden_size). Throws without a pooler.
  Tensor pool(const Tensor& last_hidden);
  bool has_pooler() const;
  const BertConfig& config() const { return config_; }
  // Draws every dropout mask (state to save in checkpoints).
  Generator& dropout_generator();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  BertConfig config_;
};

// Names: bert.* (a BertModel without pooler), cls.predictions.transform.dense.*,
// cls.predictions.transform.LayerNorm.*, cls.predictions.bias. The decoder
// weight is bert.embeddings.word_embeddings.weight (tied; listed once).
class BertForMaskedLM : public nn::Module {
 public:
  explicit BertForMaskedLM(const BertConfig& config, uint64_t seed = 0);
  // -> logits (B, T, vocab_size).
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask, const Tensor& token_type_ids = Tensor());
  Tensor forward(const Tensor& input_ids) override;
  const BertConfig& config() const { return bert->config(); }
  std::shared_ptr<BertModel> bert;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Loads folder/config.json + folder/model.safetensors (F32, F16, BF16 or F64,
// converted to F32). Tensor names may carry the "bert." prefix
// (BertForMaskedLM, BertForSequenceClassification, ...) or not (BertModel);
// cls.* / classifier.* tensors and buffers such as embeddings.position_ids are
// ignored; a file without pooler.* gives a model without pooler. Missing,
// unexpected and mis-shaped tensors are listed by name with both shapes. A
// folder holding only pytorch_model.bin gives an error pointing to
// scripts/convert_pytorch_bin.py. The model is returned in eval mode.
std::shared_ptr<BertModel> load_hf_bert(const std::string& folder);
// Writes folder/config.json + folder/model.safetensors (folder created if
// needed) in BertModel's layout, so transformers' BertModel.from_pretrained
// reads it.
void save_hf_bert(const BertModel& model, const std::string& folder);

}  // namespace tessera::models
