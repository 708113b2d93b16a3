// A small deterministic base model's data for the fine-tuning tests: a
// char-tokenized corpus as shards and a tiny GPT pretraining recipe, the same
// on every machine.
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/tessera.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"

namespace train_test {

// A char-tokenized corpus as token shards (deterministic: the same shards and tokenizer fingerprint every time).
inline void prepare_corpus(const std::filesystem::path& dir, const std::string& out) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const char* words[] = {"the cat sat on the mat. ", "a dog ran to the park. ", "the sun is hot today. "};
  for (int d = 0; d < 24; ++d) {
    std::string doc;
    for (int k = 0; k < 6; ++k) doc += words[(d + k) % 3];
    std::ofstream(dir / ("doc" + std::to_string(100 + d) + ".txt")) << doc;
  }
  tessera::text::PrepareOptions o;
  o.inputs = {dir.string()};
  o.out_dir = out;
  o.val_docs = 4;
  o.verbose = false;
  tessera::text::prepare_shards(
      [](const std::vector<std::string_view>& docs) -> std::unique_ptr<tessera::text::Tokenizer> {
        return std::make_unique<tessera::text::CharTokenizer>(
            tessera::text::CharTokenizer::from_corpus(docs, {"<|endoftext|>"}));
      },
      o);
}

inline nlohmann::json pretrain_recipe() {
  return nlohmann::json::parse(R"({
    "model": {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16, "dropout": 0.1},
    "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.1, "betas": [0.9, 0.95]},
    "schedule": {"type": "cosine", "warmup_steps": 2, "min_lr": 0.001},
    "train": {"steps": 10, "batch_size": 4, "grad_accum": 2, "clip_grad_norm": 1.0, "eval_every": 5,
              "eval_batches": 2, "log_every": 1, "seed": 3, "threads": 1, "checkpoint": {"keep_last": 1}}
  })");
}

}  // namespace train_test
