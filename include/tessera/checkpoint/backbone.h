// The base model a text classifier is fine-tuned from (tessera finetune --base,
// and the base a frozen or LoRA classifier is rebuilt over): a GPT or a BERT
// encoder with its tokenizer, and what identifies those weights.
//
// A base is a Tessera GPT checkpoint (tessera pretrain), a Tessera masked-LM
// checkpoint (tessera pretrain --objective mlm: its encoder), a Hugging Face
// BERT folder (config.json + model.safetensors + vocab.txt) or a Hugging Face
// GPT-2 folder, in any of the folder layouts of checkpoint/inspect.h. A BERT
// base needs a WordPiece tokenizer with exactly its vocabulary.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tessera/models/bert.h"
#include "tessera/models/gpt.h"
#include "tessera/nn/module.h"
#include "tessera/text/tokenizer.h"

namespace tessera::checkpoint {

struct Backbone {
  std::string kind;                // "gpt" | "bert"
  std::shared_ptr<models::GPT> gpt;
  std::shared_ptr<models::BertModel> bert;
  std::shared_ptr<text::Tokenizer> tokenizer;
  std::string base;                // absolute folder the weights came from ("" when from scratch)
  std::string base_format;         // "tessera-gpt" | "tessera-mlm" | "hf-bert" | "hf-gpt2" | "scratch"
  std::string fingerprint;         // of the weights (fingerprint_weights)
  std::string arch_json;           // the architecture config (GPTConfig / BertConfig JSON)
  bool pooler = false;             // BERT: the backbone has its pooler
};

// Loads `base`; tokenizer_override replaces the base's tokenizer. from_scratch
// keeps the architecture and the tokenizer but draws fresh weights from `seed`
// (`seed` also seeds the dropout streams). Errors name the folder: a fine-tuned
// classifier or a `tessera train` checkpoint given as a base, a tokenizer that
// is not the model's vocabulary.
Backbone load_backbone(const std::string& base, const std::string& tokenizer_override, bool from_scratch,
                       uint64_t seed);

// FNV-1a over the names and float bytes of a module's state_dict, in name order:
// how a frozen or LoRA classifier recognizes the base it was trained on.
std::string fingerprint_weights(const nn::Module& m);

}  // namespace tessera::checkpoint
