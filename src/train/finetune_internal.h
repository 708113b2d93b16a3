// Pieces shared by the fine-tuning loop (finetune.cpp) and the classifier
// writer (finetune_model.cpp): the backbone a run starts from (loaded by
// checkpoint/backbone.h), and how a classifier is written (the folder it makes
// is described in checkpoint/inspect.h and read by checkpoint/classifier.h).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/checkpoint/backbone.h"
#include "tessera/checkpoint/classifier.h"
#include "tessera/train/finetune.h"

namespace tessera::train::detail {

using checkpoint::Backbone;
using checkpoint::fingerprint_weights;
using checkpoint::load_backbone;
using checkpoint::stored_in_checkpoint;

struct ClassifierMeta {
  const Backbone* backbone = nullptr;
  std::vector<std::string> labels;
  int64_t max_len = 0;
  std::string mode;                  // "full" | "frozen" | "lora"
  std::string pooling;
  double head_dropout = 0;
  nn::LoraOptions lora;
  std::vector<std::string> lora_layers;
  std::string format, text_column, label_column;
  nlohmann::json recipe;
};

// Writes dir/{config.json, classifier.safetensors, tokenizer.json} (atomically,
// the folder replaced as a whole); the weights saved depend on meta.mode
// (stored_in_checkpoint). Returns the bytes written.
int64_t save_classifier(const std::string& dir, const models::SequenceClassifier& model, const ClassifierMeta& meta);

}  // namespace tessera::train::detail
