// Loading a fine-tuned text classifier (tessera finetune's model/ or merged/,
// or the run folder around them; the files: checkpoint/inspect.h), ready to
// predict: `tessera eval` on a classifier, and anything serving one.
//
// A full checkpoint holds every weight. A frozen checkpoint holds the head, a
// LoRA checkpoint the adapters and the head: both are rebuilt over their base
// (checkpoint/backbone.h), whose fingerprint must match the one recorded, so a
// head or adapters never load over another base model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/checkpoint/inspect.h"
#include "tessera/models/classifier.h"
#include "tessera/text/tokenizer.h"

namespace tessera::checkpoint {

struct LoadedClassifier {
  std::shared_ptr<models::SequenceClassifier> model;
  std::shared_ptr<text::Tokenizer> tokenizer;
  std::vector<std::string> labels;
  int64_t max_len = 0;
  std::string dir;          // the folder holding config.json
  std::string config_json;  // its text
  std::string format = "auto", text_column = "text", label_column = "label";  // the data it was trained on
};

// base_override replaces the base path recorded for frozen and LoRA checkpoints
// (its fingerprint must still match). The model is returned in eval mode.
// Errors name the folder: not a classifier, no base recorded, a base with
// another fingerprint or kind, weights that do not fit the classifier (each
// missing or unexpected tensor named), a tokenizer that is not the model's.
LoadedClassifier load_classifier(const Found& found, const std::string& base_override = "");
LoadedClassifier load_classifier(const std::string& path, const std::string& base_override = "");

// Whether a classifier checkpoint of `mode` stores the tensor `name`:
// everything (full), the head (frozen), adapters + head (lora). The writer
// (tessera finetune) and the loader both follow it.
inline bool stored_in_checkpoint(const std::string& name, const std::string& mode) {
  const bool head = name.rfind("head.", 0) == 0;
  const bool adapter = name.find("lora_A.") != std::string::npos || name.find("lora_B.") != std::string::npos;
  return mode == "full" || head || (mode == "lora" && adapter);
}

}  // namespace tessera::checkpoint
