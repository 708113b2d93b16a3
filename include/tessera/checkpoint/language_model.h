// Loading a language model with the tokenizer it was trained with: a GPT
// (tessera generate, serve, cost, eval, and a fine-tuning backbone) or a
// masked-LM BERT (eval, backbone). What each folder holds: checkpoint/inspect.h.
//
// The tokenizer is, in order: `tokenizer_path` when given (a file or folder for
// text::load_tokenizer), else tokenizer.json (or encoder.json + vocab.bpe) in
// the checkpoint folder, else in the run folder above checkpoints/.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tessera/checkpoint/inspect.h"
#include "tessera/models/bert.h"
#include "tessera/models/gpt.h"
#include "tessera/text/tokenizer.h"

namespace tessera::checkpoint {

struct LoadedGPT {
  std::shared_ptr<models::GPT> model;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::string checkpoint_dir;  // the folder the weights came from
  std::string tokenizer_path;
  std::string format;          // "tessera" | "hf-gpt2" | "gguf"
  int64_t step = -1;           // Tessera checkpoints: the training step
};

// A Tessera GPT checkpoint (a pretraining run, step or checkpoint folder), a
// Hugging Face GPT-2 folder, or a GGUF model file (checkpoint/gguf_model.h:
// llama.cpp's llama and gpt2 architectures, with the tokenizer the file
// carries unless `tokenizer_path` is given). Errors name the folder or file: another kind of
// checkpoint, a config without a GPT config, weights whose names or shapes
// disagree with the config (each tensor named with both shapes), no tokenizer,
// a tokenizer whose size does not fit the model's vocab_size (both named). A
// model may pad its vocabulary past the tokenizer's by fewer than 128 ids
// (nanoGPT's 50304 for 50257); generation never samples the padded ids.
LoadedGPT load_gpt(const Found& found, const std::string& tokenizer_path = "");
LoadedGPT load_gpt(const std::string& path, const std::string& tokenizer_path = "");

struct LoadedMaskedLM {
  std::shared_ptr<models::BertForMaskedLM> model;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::string checkpoint_dir;
  std::string tokenizer_path;
  int64_t step = -1;
};

// A Tessera masked-LM checkpoint (tessera pretrain --objective mlm). `seed`
// seeds the model's dropout streams (the weights all come from the file).
// Errors name the file: no BertConfig "model", weights that do not match it, no
// tokenizer, a tokenizer with more ids than the model's vocab_size.
LoadedMaskedLM load_masked_lm(const Found& found, const std::string& tokenizer_path = "", uint64_t seed = 0);

}  // namespace tessera::checkpoint
