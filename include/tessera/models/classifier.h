// Sequence classification over a pretrained backbone (fine-tuning): a GPT
// (causal decoder) or a BertModel (bidirectional encoder) turns token ids into
// hidden states, a pooling step makes one vector per sequence, then dropout
// and a Linear head give the logits (HF's *ForSequenceClassification).
//
// Batches are right-padded (pad_batch). A GPT needs no mask for that: causal
// attention never lets a real token see the padding after it. A BERT gets the
// key-padding mask built from the lengths. Either way each sequence's logits
// equal those of the sequence alone, and the padding gets no gradient.
//
// Names: the backbone is the child "backbone" ("backbone.transformer.h.0...",
// "backbone.encoder.layer.0..."), the head is "head" (head.weight, head.bias),
// so nn::mark_only_lora_trainable(model, {"head."}) trains adapters + head.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/nn/layers.h"
#include "tessera/nn/module.h"

namespace tessera::models {

class GPT;
class BertModel;

struct ClassifierOptions {
  // "cls": BERT only: the pooler output when the backbone has a pooler, else
  //        the hidden state of the first token ([CLS]).
  // "last": the hidden state of the last real token (GPT's natural choice).
  // "mean": the mean of the hidden states of the real tokens.
  std::string pooling = "mean";
  int64_t num_labels = 2;
  double dropout = 0.1;  // before the head, training mode only
};

class SequenceClassifier : public nn::Module {
 public:
  // The head (hidden -> num_labels) ~ N(0, 0.02) with zero bias (as HF), and
  // the dropout stream, come from `seed`; the backbone keeps its weights.
  // Throws for an unknown pooling, num_labels < 1, dropout outside [0, 1),
  // and "cls" over a GPT.
  SequenceClassifier(std::shared_ptr<GPT> gpt, const ClassifierOptions& options, uint64_t seed);
  SequenceClassifier(std::shared_ptr<BertModel> bert, const ClassifierOptions& options, uint64_t seed);

  // ids (B, T) int64, right-padded; lengths[b] = real tokens of row b (1..T).
  // -> logits (B, num_labels).
  Tensor forward(const Tensor& ids, const std::vector<int64_t>& lengths);
  Tensor forward(const Tensor& ids) override;  // no padding: every row has T tokens
  // The pooled vectors (B, hidden) before dropout and head.
  Tensor pooled(const Tensor& ids, const std::vector<int64_t>& lengths);

  std::string backbone_kind() const;  // "gpt" | "bert"
  nn::Module& backbone();
  nn::Linear& head() { return *head_; }
  int64_t hidden_size() const { return hidden_; }
  const ClassifierOptions& options() const { return options_; }
  Generator& dropout_generator() { return dropout_gen_; }

 private:
  void init(const ClassifierOptions& options, uint64_t seed);
  ClassifierOptions options_;
  std::shared_ptr<GPT> gpt_;
  std::shared_ptr<BertModel> bert_;
  std::shared_ptr<nn::Linear> head_;
  int64_t hidden_ = 0;
  Generator dropout_gen_;
};

// Right-pads token id lists with pad_id -> (ids (B, Tmax) int64, lengths).
// Throws for an empty batch or an empty sequence (naming its index).
std::pair<Tensor, std::vector<int64_t>> pad_batch(const std::vector<std::vector<int32_t>>& seqs, int32_t pad_id);

}  // namespace tessera::models
