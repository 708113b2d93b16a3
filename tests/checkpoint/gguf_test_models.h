// Small deterministic GPTs and a BPE vocabulary for the GGUF tests: the same
// models every time (Philox-seeded weights), so the files export_gguf writes
// from them are byte-identical run to run and llama.cpp's logits for them can
// be checked in (tests/checkpoint/gen_gguf_golden.py runs
// `tessera_tests --gtest_filter=GgufGolden.WriteExports` to get the files).
#pragma once
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "models/gpt_test_util.h"
#include "tessera/checkpoint/gguf_model.h"
#include "tessera/core/random.h"
#include "tessera/models/gpt.h"
#include "tessera/ops/elementwise.h"
#include "tessera/text/bpe.h"

namespace tessera::gguf_test {

// 256 byte tokens, a few merges, <|endoftext|>: 267 ids.
inline std::unique_ptr<text::ByteLevelBPE> small_bpe() {
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b) vocab.push_back(std::string(1, char(b)));
  std::vector<std::pair<int32_t, int32_t>> merges;
  auto merge = [&](const std::string& a, const std::string& b) {
    int32_t ia = -1, ib = -1;
    for (size_t i = 0; i < vocab.size(); ++i) {
      if (vocab[i] == a) ia = int32_t(i);
      if (vocab[i] == b) ib = int32_t(i);
    }
    merges.emplace_back(ia, ib);
    vocab.push_back(a + b);
  };
  merge("t", "h"), merge("th", "e"), merge(" ", "the"), merge("i", "n"), merge("in", "g"), merge(" ", "a"),
      merge("e", "r"), merge("o", "n"), merge(" ", "t"), merge("a", "n");
  vocab.push_back("<|endoftext|>");
  const int32_t eot = int32_t(vocab.size()) - 1;
  return std::make_unique<text::ByteLevelBPE>(
      vocab, merges, std::vector<std::pair<std::string, int32_t>>{{"<|endoftext|>", eot}}, "gguf test vocabulary");
}

// "gpt2": learned positions, LayerNorm, GELU, tied. "llama": rope, RMSNorm,
// SwiGLU, no biases, untied. Vocabulary 272 (the tokenizer's 267, padded).
inline models::GPTConfig small_config(const std::string& arch) {
  models::GPTConfig c;
  c.vocab_size = 272;
  c.block_size = 32;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 64;
  if (arch == "llama") {
    test_util::make_llama_style(c);
    c.mlp_hidden = 128;
    c.norm_eps = 1e-5;
    c.tie_embeddings = false;
  }
  return c;
}

// Weights far from nanoGPT's N(0, 0.02), so that logits spread over several
// units and a wrong mapping or permutation changes them clearly.
inline std::shared_ptr<models::GPT> small_model(const std::string& arch) {
  auto model = std::make_shared<models::GPT>(small_config(arch), 3);
  Generator gen(arch == "llama" ? 11 : 7);
  nn::StateDict state = model->state_dict();
  for (auto& [name, t] : state) {
    const bool norm = name.find("ln_") != std::string::npos;
    const bool bias = name.size() > 5 && name.substr(name.size() - 5) == ".bias";
    Tensor r = randn(t.shape(), gen);
    state[name] = norm && !bias ? add(mul(r, 0.2), 1.0) : mul(r, bias ? 0.1 : 0.15);
  }
  model->load_state_dict(state, true);
  return model;
}

// The exports the goldens cover: <arch>-<dtype>.gguf.
inline std::vector<std::pair<std::string, std::string>> export_cases() {
  return {{"gpt2", "f32"}, {"gpt2", "q8_0"}, {"gpt2", "q4_0"}, {"llama", "f32"}, {"llama", "q8_0"}, {"llama", "q4_0"}};
}

inline std::string write_export(const std::string& dir, const std::string& arch, const std::string& dtype) {
  const std::string path = dir + "/" + arch + "-" + dtype + ".gguf";
  checkpoint::GgufExportOptions o;
  o.dtype = dtype;
  o.name = "tessera-test-" + arch;
  checkpoint::export_gguf(*small_model(arch), *small_bpe(), path, o);
  return path;
}

// FNV-1a 64 of a file's bytes, as hex (the goldens record which bytes llama.cpp ran).
inline std::string fnv1a64_hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace tessera::gguf_test
