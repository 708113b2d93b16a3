// Hugging Face GPT-2 import/export (models/hf_gpt2.h): round trip and error
// messages here; parity with transformers' GPT2LMHeadModel when the golden
// folder of tests/models/gen_gpt2_golden.py is given (TESSERA_GPT2_GOLDEN_DIR),
// and an export for that script's check-export mode (TESSERA_GPT2_EXPORT_DIR).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tessera/autograd/grad_mode.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/hf_gpt2.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace tessera::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_util::expect_error;
using test_util::max_abs_diff;

GPTConfig small_gpt2(bool tied = true) {
  GPTConfig c;
  c.vocab_size = 97;
  c.block_size = 32;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  c.tie_embeddings = tied;
  return c;
}

// Random biases and norm weights too, so their mapping matters.
void perturb(GPT& m, uint64_t seed) {
  Generator g(seed);
  NoGradGuard ng;
  for (auto& [n, p] : m.named_parameters()) p.add_(randn(p.shape(), g), 0.05);
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("tessera_gpt_hf_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  return d;
}

Tensor sample_ids(int64_t V, int64_t B, int64_t T, uint64_t seed) {
  Generator g(seed);
  return randint(0, V, {B, T}, g);
}

TEST(HFGPT2, ExportThenLoadGivesTheSameModel) {
  for (bool tied : {true, false}) {
    GPT m(small_gpt2(tied), 3);
    perturb(m, 4);
    m.eval();
    fs::path d = temp_dir(tied ? "tied" : "untied");
    export_hf_gpt2(m, d.string());
    auto header = io::read_safetensors_header((d / "model.safetensors").string());
    bool has_lm_head = false;
    for (auto& e : header.tensors) {
      has_lm_head |= e.name == "lm_head.weight";
      if (e.name == "transformer.h.0.mlp.c_fc.weight") {
        EXPECT_EQ(e.shape, Shape({16, 64}));  // Conv1D (in, out)
      }
    }
    EXPECT_EQ(has_lm_head, !tied);
    EXPECT_EQ(header.metadata.at("format"), "pt");
    auto loaded = load_hf_gpt2(d.string());
    EXPECT_EQ(loaded->config(), m.config());
    loaded->eval();
    Tensor x = sample_ids(97, 2, 9, 1);
    EXPECT_EQ(max_abs_diff(loaded->forward(x), m.forward(x)), 0.0);
    fs::remove_all(d);
  }
}

TEST(HFGPT2, AcceptsUnprefixedNamesTiedHeadAndMaskBuffers) {
  GPT m(small_gpt2(), 5);
  perturb(m, 6);
  fs::path d = temp_dir("gpt2model");
  export_hf_gpt2(m, d.string());
  auto st = io::load_safetensors((d / "model.safetensors").string()).tensors;
  io::TensorMap renamed;
  for (auto& [n, t] : st) renamed[n.substr(std::string("transformer.").size())] = t;  // GPT2Model naming
  renamed["lm_head.weight"] = st.at("transformer.wte.weight");
  renamed["h.0.attn.bias"] = ones({1, 1, 32, 32});
  renamed["h.0.attn.masked_bias"] = scalar_tensor(-1e4);
  io::save_safetensors((d / "model.safetensors").string(), renamed, {{"format", "pt"}});
  auto loaded = load_hf_gpt2(d.string());
  Tensor x = sample_ids(97, 1, 7, 2);
  m.eval();
  loaded->eval();
  EXPECT_EQ(max_abs_diff(loaded->forward(x), m.forward(x)), 0.0);
  fs::remove_all(d);
}

TEST(HFGPT2, ClearErrors) {
  GPT m(small_gpt2(), 5);
  fs::path d = temp_dir("errors");
  export_hf_gpt2(m, d.string());
  const std::string cfg_text = gpt2_config_to_hf(m.config());
  auto with = [&](const std::string& key, const json& value) {
    json j = json::parse(cfg_text);
    j[key] = value;
    return j.dump();
  };
  expect_error<Error>([&] { gpt2_config_from_hf(with("activation_function", "relu")); }, {"activation_function", "relu"});
  expect_error<Error>([&] { gpt2_config_from_hf(with("attn_pdrop", 0.2)); }, {"attn_pdrop (0.2)", "one dropout"});
  expect_error<Error>([&] { gpt2_config_from_hf(with("model_type", "llama")); }, "model_type");
  expect_error<Error>([&] { gpt2_config_from_hf(with("scale_attn_by_inverse_layer_idx", true)); },
                      "scale_attn_by_inverse_layer_idx");
  expect_error<Error>([&] { gpt2_config_from_hf(with("n_head", 3)); }, {"config.json", "n_head (3)"});
  EXPECT_EQ(gpt2_config_from_hf(with("n_inner", 40)).mlp_hidden, 40);

  // Missing, mis-shaped and unexpected tensors are all listed.
  auto st = io::load_safetensors((d / "model.safetensors").string()).tensors;
  st.erase("transformer.h.1.ln_2.bias");
  st["transformer.h.0.attn.c_attn.weight"] = zeros({48, 16});  // (out, in): not transposed
  st["transformer.h.0.attn.extra"] = zeros({2});
  io::save_safetensors((d / "model.safetensors").string(), st, {{"format", "pt"}});
  expect_error<Error>([&] { load_hf_gpt2(d.string()); },
                      {"missing tensor 'transformer.h.1.ln_2.bias' [16]",
                       "'transformer.h.0.attn.c_attn.weight' has shape [48, 16], expected [16, 48]",
                       "unexpected tensor 'transformer.h.0.attn.extra'"});
  expect_error<Error>([&] { load_hf_gpt2((d / "nope").string()); }, "config.json' not found");
  GPTConfig llama = small_gpt2();
  llama.norm = "rmsnorm";
  GPT l(llama);
  expect_error<Error>([&] { export_hf_gpt2(l, d.string()); }, {"only the GPT-2 architecture", "norm rmsnorm"});
  fs::remove_all(d);
}

// ---- parity with transformers (golden folder from gen_gpt2_golden.py) ----

std::vector<float> floats(const json& j) { return j.get<std::vector<float>>(); }

// max |a - b| / max |b|, the relative error the brief's 1e-4 bound is on.
double rel_err(const Tensor& got, const std::vector<float>& want) {
  auto g = got.to_vector<double>();
  EXPECT_EQ(g.size(), want.size());
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < g.size() && i < want.size(); ++i) {
    err = std::max(err, std::abs(g[i] - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return err / scale;
}

// Replays golden.json of `dir` on `model`: logits, the loss for HF's shifted
// labels and every parameter gradient within 1e-4 relative.
void check_golden(GPT& model, const std::string& dir, const char* what) {
  json g;
  std::ifstream(fs::path(dir) / "golden.json") >> g;
  ASSERT_TRUE(g.is_object()) << "no golden.json in " << dir;
  const auto& id_rows = g.at("ids");
  std::vector<int64_t> flat;
  for (const auto& r : id_rows)
    for (const auto& v : r) flat.push_back(v.get<int64_t>());
  const int64_t B = id_rows.size(), T = id_rows[0].size(), V = model.config().vocab_size;
  Tensor ids = from_vector(flat, {B, T});
  Tensor logits = model.forward(ids);
  // HF's labels = ids: position t predicts token t + 1.
  Tensor loss = cross_entropy(logits.narrow(1, 0, T - 1).reshape({-1, V}), ids.narrow(1, 1, T - 1).reshape({-1}));
  loss.backward();
  const double e_logits = rel_err(logits, floats(g.at("logits")));
  const double e_loss = std::abs(loss.item() - g.at("loss").get<double>()) / std::abs(g.at("loss").get<double>());
  EXPECT_LT(e_logits, 1e-4);
  EXPECT_LT(e_loss, 1e-4);
  double worst = 0;
  std::string worst_name;
  auto params = model.named_parameters();
  ASSERT_EQ(params.size(), g.at("grads").size());
  for (auto& [name, p] : params) {
    ASSERT_TRUE(g.at("grads").contains(name)) << name;
    const auto& want = g.at("grads").at(name);
    ASSERT_EQ(p.shape(), want.at("shape").get<Shape>()) << name;
    ASSERT_TRUE(p.grad().defined()) << name;
    const double e = rel_err(p.grad(), floats(want.at("values")));
    EXPECT_LT(e, 1e-4) << name;
    if (e > worst) worst = e, worst_name = name;
  }
  std::printf("%s vs transformers %s: logits rel err %.2e, loss rel err %.2e, worst grad rel err %.2e (%s)\n", what,
              g.at("transformers_version").get<std::string>().c_str(), e_logits, e_loss, worst, worst_name.c_str());
}

TEST(GPT2Parity, LogitsLossAndGradientsMatchTransformers) {
  const char* dir = std::getenv("TESSERA_GPT2_GOLDEN_DIR");
  if (!dir || !*dir) GTEST_SKIP() << "TESSERA_GPT2_GOLDEN_DIR not set (run tests/models/gen_gpt2_golden.py golden)";
  auto model = load_hf_gpt2(dir);
  check_golden(*model, dir, "GPT-2 (GPT2LMHeadModel)");
}

// rmsnorm + rope + swiglu + no bias + untied head vs LlamaForCausalLM.
TEST(GPT2Parity, LlamaVariantMatchesTransformers) {
  const char* dir = std::getenv("TESSERA_LLAMA_GOLDEN_DIR");
  if (!dir || !*dir) GTEST_SKIP() << "TESSERA_LLAMA_GOLDEN_DIR not set (run tests/models/gen_gpt2_golden.py llama)";
  std::ifstream cfg(fs::path(dir) / "tessera_config.json");
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  GPT model(GPTConfig::from_json(text));
  auto st = io::load_safetensors((fs::path(dir) / "model.safetensors").string()).tensors;
  model.load_state_dict(nn::StateDict(st.begin(), st.end()), true);
  check_golden(model, dir, "LLaMA-style (LlamaForCausalLM)");
}

// Writes exported folders + Tessera's logits for gen_gpt2_golden.py check-export.
TEST(GPT2Export, WriteFoldersForTransformers) {
  const char* dir = std::getenv("TESSERA_GPT2_EXPORT_DIR");
  if (!dir || !*dir) GTEST_SKIP() << "TESSERA_GPT2_EXPORT_DIR not set";
  for (bool tied : {true, false}) {
    GPT m(small_gpt2(tied), 21);
    perturb(m, 22);
    m.eval();
    const fs::path d = fs::path(dir) / (tied ? "tied" : "untied");
    export_hf_gpt2(m, d.string());
    Tensor x = sample_ids(97, 2, 12, 23);
    Tensor logits = m.forward(x);
    json doc;
    std::vector<std::vector<int64_t>> rows(2);
    auto v = x.to_vector<int64_t>();
    for (int64_t i = 0; i < 24; ++i) rows[i / 12].push_back(v[i]);
    doc["ids"] = rows;
    doc["logits"] = logits.to_vector<float>();
    std::ofstream(d / "tessera_logits.json") << doc.dump();
  }
}

}  // namespace
}  // namespace tessera::models
