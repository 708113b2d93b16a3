// Small deterministic data for the training tests: separable blobs, labeled
// text and char-tokenized shards, the same on every machine.
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/tessera.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"
#include "tessera/train/trainer.h"

namespace compat {

inline std::shared_ptr<tessera::data::TensorDataset> blobs(int64_t n, uint64_t seed) {
  using namespace tessera;
  Generator g(seed);
  Tensor x = randn({n, 4}, g);
  std::vector<int64_t> y(n);
  auto xv = x.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 2;
    for (int64_t f = 0; f < 4; ++f) xv[i * 4 + f] += y[i] ? 2.0f : -2.0f;
  }
  return std::make_shared<data::TensorDataset>(from_vector<float>(xv, {n, 4}), from_vector<int64_t>(y, {n}), 2);
}

inline tessera::train::TrainData train_data() {
  tessera::train::TrainData d;
  d.train = blobs(40, 1);
  d.validation = blobs(16, 2);
  d.test = blobs(16, 3);
  return d;
}

inline nlohmann::json train_recipe() {
  return nlohmann::json::parse(R"({
    "task": "classification",
    "model": {"type": "mlp", "hidden": [8], "dropout": 0.2},
    "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.01},
    "schedule": {"type": "cosine", "warmup_steps": 3},
    "train": {"steps": 12, "batch_size": 8, "grad_accum": 2, "clip_grad_norm": 1.0, "log_every": 1,
              "eval_every": 4, "seed": 7, "threads": 1, "checkpoint": {"every": 2, "keep_last": 1}}
  })");
}

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

// Labeled lines for a tiny fine-tuning run: which of two sentences a text comes from.
inline void write_labeled(const std::string& path, int n, int skip) {
  std::ofstream f(path);
  f << "text\tlabel\n";
  const char* a[] = {"the cat sat", "cat on the mat", "the mat", "a cat sat on"};
  const char* b[] = {"a dog ran", "dog to the park", "the park", "a dog ran to"};
  for (int i = skip; i < skip + n; ++i) f << (i % 2 ? a[i % 4] : b[i % 4]) << "\t" << (i % 2 ? "cat" : "dog") << "\n";
}

}  // namespace compat
