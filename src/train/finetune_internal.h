// Pieces shared by the fine-tuning loop (finetune.cpp) and the classifier
// checkpoints (finetune_model.cpp): the backbone a run starts from, and how a
// classifier is written.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/models/bert.h"
#include "tessera/models/gpt.h"
#include "tessera/train/finetune.h"

namespace tessera::train::detail {

struct Backbone {
  std::string kind;                // "gpt" | "bert"
  std::shared_ptr<models::GPT> gpt;
  std::shared_ptr<models::BertModel> bert;
  std::shared_ptr<text::Tokenizer> tokenizer;
  std::string base;                // absolute folder the weights came from ("" when from scratch)
  std::string base_format;         // "tessera-gpt" | "tessera-mlm" | "hf-bert" | "hf-gpt2"
  std::string fingerprint;         // of the base weights (fingerprint_weights)
  nlohmann::json arch;             // the architecture config (GPTConfig / BertConfig JSON)
  bool pooler = false;             // BERT: the backbone has its pooler
};

// Loads `base` (see finetune.h); from_scratch keeps the architecture and the
// tokenizer but draws fresh weights from `seed`.
Backbone load_backbone(const std::string& base, const std::string& tokenizer_override, bool from_scratch,
                       uint64_t seed);

// FNV-1a over the names and float bytes of a module's state_dict, in name order.
std::string fingerprint_weights(const nn::Module& m);

// The checkpoint folder a path names: itself, its model/, or a run's newest step.
std::string resolve_checkpoint_dir(const std::string& path);

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

// Whether a classifier checkpoint of `mode` stores the tensor `name`:
// everything (full), the head (frozen), adapters + head (lora).
inline bool stored_in_checkpoint(const std::string& name, const std::string& mode) {
  const bool head = name.rfind("head.", 0) == 0;
  const bool adapter = name.find("lora_A.") != std::string::npos || name.find("lora_B.") != std::string::npos;
  return mode == "full" || head || (mode == "lora" && adapter);
}

// Writes dir/{config.json, classifier.safetensors, tokenizer.json} (atomically,
// the folder replaced as a whole); the weights saved depend on meta.mode.
// Returns the bytes written.
int64_t save_classifier(const std::string& dir, const models::SequenceClassifier& model, const ClassifierMeta& meta);

}  // namespace tessera::train::detail
