// The same GGUF file gives the same logits in Tessera as in llama.cpp: the
// staged tiny llama (F16) and the files export_gguf writes from small
// Tessera GPTs (gpt2 and llama architectures; F32, Q8_0, Q4_0). llama.cpp's
// logits are goldens (tests/fixtures/gguf/llama_cpp_logits.json, written by
// tests/checkpoint/gen_gguf_golden.py with llama-cpp-python), each recorded
// with the FNV-1a hash of the file it ran on, so a changed export is caught
// rather than compared against another file's numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/gguf_test_models.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/checkpoint/gguf_model.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path shared_models() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return fs::path(env) / "models";
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data" / "models";
}

json goldens() {
  std::ifstream in(fs::path(TESSERA_TESTS_DIR) / "fixtures" / "gguf" / "llama_cpp_logits.json");
  EXPECT_TRUE(in.good()) << "tests/fixtures/gguf/llama_cpp_logits.json missing";
  return json::parse(in);
}

// Logits (T, V) of the whole sequence.
Tensor logits_of(models::GPT& model, const std::vector<int32_t>& tokens) {
  NoGradGuard ng;
  const int64_t T = int64_t(tokens.size());
  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  Tensor idx = from_vector(ids, {1, T});
  return model.forward(idx).view({T, model.config().vocab_size}).contiguous();
}

// The same logits one token at a time through the KV cache (the decode path:
// (1, C) rows through the quantized kernels, as generation runs them).
Tensor stepwise_logits_of(models::GPT& model, const std::vector<int32_t>& tokens) {
  NoGradGuard ng;
  const int64_t T = int64_t(tokens.size()), V = model.config().vocab_size;
  models::KVCache cache = model.make_cache(1, T);
  Tensor out = empty({T, V});
  for (int64_t t = 0; t < T; ++t) {
    Tensor l = model.forward(from_vector(std::vector<int64_t>{tokens[size_t(t)]}, {1, 1}), cache).contiguous();
    std::copy(l.data<float>(), l.data<float>() + V, out.data<float>() + t * V);
  }
  return out;
}

// How far llama.cpp may be from Tessera on the same weights, relative to the
// largest |logit| (the goldens use a float32 KV cache). Measured when the
// goldens were written (llama-cpp-python 0.3.36): llama F32 5e-7 (both run in
// float32); gpt2 F32 3.4e-4 (ggml's GELU reads an fp16 table); the F16 tiny
// llama 1.2e-4 (ggml rounds the activations to fp16 for F16 weights); Q8_0
// and Q4_0 1.2% to 1.6%: both quantize the activations to 8-bit blocks of 32
// before the integer dot products, and the rounding of those activations
// differs in detail. For scale: llama.cpp's own Q8_0 logits differ from its
// F32 ones by 1.8% to 2.5%, its Q4_0 ones by 22% to 34%.
double tolerance(const std::string& arch, const std::string& weights) {
  if (weights == "f32") return arch == "gpt2" ? 1e-3 : 1e-5;
  if (weights == "f16") return 1e-3;
  return 4e-2;  // q8_0, q4_0
}

class GgufGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_gguf_golden_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// Run by gen_gguf_golden.py: the files llama.cpp computes the goldens from.
TEST_F(GgufGolden, WriteExports) {
  const char* out = std::getenv("TESSERA_GGUF_EXPORT_DIR");
  if (!out) GTEST_SKIP() << "set TESSERA_GGUF_EXPORT_DIR to write the export files";
  for (const auto& [arch, dtype] : gguf_test::export_cases()) gguf_test::write_export(out, arch, dtype);
  gguf_test::small_bpe()->save(std::string(out) + "/tokenizer.json");
}

TEST_F(GgufGolden, LogitsEqualLlamaCpp) {
  const json g = goldens();
  ASSERT_GE(g["models"].size(), 7u);
  for (const json& m : g["models"]) {
    const std::string name = m["name"];
    SCOPED_TRACE(name);
    std::string path;
    if (m.contains("shared")) {
      path = (shared_models() / m["shared"].get<std::string>()).string();
      if (!fs::exists(path)) {
        std::printf("[ gguf     ] %s not found (set TESSERA_SHARED_DATA): not compared\n", path.c_str());
        continue;
      }
    } else {
      path = gguf_test::write_export(dir_.string(), m["arch"], m["dtype"]);
    }
    ASSERT_EQ(gguf_test::fnv1a64_hex(path), m["fnv1a64"].get<std::string>())
        << path << " is not the file llama.cpp ran on: rerun tests/checkpoint/gen_gguf_golden.py";
    checkpoint::LoadedGgufModel loaded = checkpoint::load_gguf_model(path);
    const std::vector<int32_t> tokens = m["tokens"];
    const double scale = m["max_abs_logit"];
    const double tol = tolerance(m.value("arch", "llama"), m["weights"]) * scale;
    const std::vector<int64_t> ids = m["sample_ids"];
    const Tensor logits = logits_of(*loaded.model, tokens);
    const int64_t V = logits.size(1);
    for (const char* pass : {"whole sequence", "token by token"}) {
      const Tensor lt = pass[0] == 'w' ? logits : stepwise_logits_of(*loaded.model, tokens);
      const float* l = lt.data<float>();
      double worst = 0;
      for (size_t t = 0; t < tokens.size(); ++t) {
        for (size_t j = 0; j < ids.size(); ++j)
          worst = std::max(worst, std::abs(double(l[t * V + ids[j]]) - m["logits"][t][j].get<double>()));
        double mx = -1e30, sum = 0;
        for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(l[t * V + v]));
        for (int64_t v = 0; v < V; ++v) sum += std::exp(double(l[t * V + v]) - mx);
        worst = std::max(worst, std::abs(mx + std::log(sum) - m["logsumexp"][t].get<double>()));
      }
      EXPECT_LE(worst, tol) << pass << ": largest |logit| " << scale;
      std::printf("[ gguf     ] %-20s %-14s max |Tessera - llama.cpp| = %.3g (%.2g of the largest logit %.3g)\n",
                  name.c_str(), pass, worst, worst / scale, scale);
    }
    const float* l = logits.data<float>();
    // The greedy token at every position, where llama.cpp's top two are not a near tie.
    for (size_t t = 0; t < tokens.size(); ++t) {
      if (m["top2_margin"][t].get<double>() < 2 * tol) continue;
      int64_t best = 0;
      for (int64_t v = 1; v < V; ++v)
        if (l[t * V + v] > l[t * V + best]) best = v;
      EXPECT_EQ(best, m["argmax"][t].get<int64_t>()) << "position " << t;
    }
    if (m.contains("text")) {  // llama.cpp's tokenization of the exported vocabulary
      const std::vector<int32_t> want = m["text_ids"];
      EXPECT_EQ(gguf_test::small_bpe()->encode(m["text"].get<std::string>(), false), want);
    }
  }
}

}  // namespace
