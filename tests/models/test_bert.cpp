// BERT (models/bert.h): names, config, padding invariance, gradients, the
// masked-LM head's tying and the HF folder round trip here; parity with
// transformers' BertModel / BertForMaskedLM and with the real all-MiniLM-L6-v2
// when the golden folder of tests/models/gen_bert_golden.py is given
// (TESSERA_BERT_GOLDEN_DIR).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tessera/autograd/grad_mode.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/bert.h"
#include "tessera/nn/layers.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace tessera::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_util::expect_error;
using test_util::max_abs_diff;

BertConfig tiny() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 24;
  c.max_position_embeddings = 20;
  return c;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("tessera_bert_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  return d;
}

// Random biases and LayerNorm affines too, so every mapping matters.
void perturb(nn::Module& m, uint64_t seed) {
  Generator g(seed);
  NoGradGuard ng;
  for (auto& [n, p] : m.named_parameters()) p.add_(randn(p.shape(), g), 0.05);
}

std::vector<std::string> hf_names(const BertConfig& c, bool pooler) {
  std::vector<std::string> n = {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                                "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                                "embeddings.LayerNorm.bias"};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* s : {"attention.self.query", "attention.self.key", "attention.self.value",
                          "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                          "output.LayerNorm"})
      for (const char* w : {".weight", ".bias"}) n.push_back(p + s + w);
  }
  if (pooler)
    for (const char* w : {"pooler.dense.weight", "pooler.dense.bias"}) n.push_back(w);
  return n;
}

TEST(Bert, StateDictHasHuggingFaceNamesAndShapes) {
  const BertConfig c = tiny();
  for (bool pooler : {true, false}) {
    BertModel m(c, 1, pooler);
    auto sd = m.state_dict();
    std::vector<std::string> got;
    for (auto& [k, v] : sd) got.push_back(k);
    auto want = hf_names(c, pooler);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    EXPECT_EQ(m.has_pooler(), pooler);
    EXPECT_EQ(sd.at("encoder.layer.1.intermediate.dense.weight").shape(), Shape({24, 16}));
    EXPECT_EQ(sd.at("embeddings.position_embeddings.weight").shape(), Shape({20, 16}));
    EXPECT_EQ(sd.at("embeddings.token_type_embeddings.weight").shape(), Shape({2, 16}));
  }
}

TEST(Bert, InitializesAsHuggingFace) {
  BertModel m(tiny(), 7);
  auto sd = m.state_dict();
  auto w = sd.at("embeddings.word_embeddings.weight");
  EXPECT_EQ(max_abs_diff(w.select(0, 0), zeros({16})), 0.0);  // pad_token_id row
  auto q = sd.at("encoder.layer.0.attention.self.query.weight").to_vector<double>();
  double s2 = 0;
  for (double v : q) s2 += v * v;
  EXPECT_NEAR(std::sqrt(s2 / q.size()), 0.02, 0.004);
  EXPECT_EQ(max_abs_diff(sd.at("encoder.layer.0.output.LayerNorm.weight"), ones({16})), 0.0);
  EXPECT_EQ(max_abs_diff(sd.at("encoder.layer.0.output.dense.bias"), zeros({16})), 0.0);
  // A function of (config, seed).
  BertModel again(tiny(), 7), other(tiny(), 8);
  EXPECT_EQ(max_abs_diff(again.state_dict().at("pooler.dense.weight"), sd.at("pooler.dense.weight")), 0.0);
  EXPECT_GT(max_abs_diff(other.state_dict().at("pooler.dense.weight"), sd.at("pooler.dense.weight")), 0.0);
  // Every projection is an nn::Linear under its HF path (adapters find them by name).
  int linears = 0;
  for (auto& [name, mod] : m.named_modules())
    if (dynamic_cast<nn::Linear*>(mod)) {
      ++linears;
      EXPECT_EQ(mod->path(), name);  // named_modules gives torch's names, as path()
    }
  EXPECT_EQ(linears, 2 * 6 + 1);
}

TEST(Bert, ForwardShapesAndPooler) {
  BertModel m(tiny(), 2);
  m.eval();
  Tensor ids = from_vector<int64_t>({2, 5, 7, 9, 3, 4, 8, 1}, {2, 4});
  Tensor h = m.forward(ids);
  EXPECT_EQ(h.shape(), Shape({2, 4, 16}));
  Tensor p = m.pool(h);
  EXPECT_EQ(p.shape(), Shape({2, 16}));
  for (double v : p.to_vector<double>()) EXPECT_LE(std::abs(v), 1.0);
  // Undefined mask / token types equal all-ones / zeros.
  Tensor h2 = m.forward(ids, ones({2, 4}, {.dtype = DType::I64}), zeros({2, 4}, {.dtype = DType::I64}));
  EXPECT_LT(max_abs_diff(h, h2), 1e-6);
  // Token types change the result.
  Tensor h3 = m.forward(ids, Tensor(), ones({2, 4}, {.dtype = DType::I64}));
  EXPECT_GT(max_abs_diff(h, h3), 1e-3);
  BertModel np(tiny(), 2, false);
  expect_error<Error>([&] { np.pool(h); }, "no pooler");
  expect_error<ShapeError>([&] { m.forward(zeros({2, 21}, {.dtype = DType::I64})); }, "max_position_embeddings");
  expect_error<ShapeError>([&] { m.forward(ids, ones({2, 3})); }, "attention_mask");
  expect_error<ShapeError>([&] { m.forward(ids.to(DType::F32)); }, "int64");
}

// A batch with padded rows gives each row's real tokens the hidden states it
// has alone, for every mask dtype.
TEST(Bert, PaddingDoesNotChangeRealTokens) {
  BertModel m(tiny(), 3);
  perturb(m, 4);
  m.eval();
  const std::vector<std::vector<int64_t>> rows = {{2, 11, 12, 13, 14, 3}, {2, 21, 3}, {2, 31, 32, 3}};
  const int64_t B = 3, T = 6;
  std::vector<int64_t> ids(B * T, 0), mask(B * T, 0), types(B * T, 0);
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < rows[b].size(); ++t) {
      ids[b * T + t] = rows[b][t];
      mask[b * T + t] = 1;
      types[b * T + t] = t >= 2 ? 1 : 0;
    }
  Tensor mask_i64 = from_vector<int64_t>(mask, {B, T});
  for (Tensor mk : {mask_i64, mask_i64.to(DType::F32), mask_i64.to(DType::Bool), mask_i64.to(DType::I32)}) {
    Tensor h = m.forward(from_vector<int64_t>(ids, {B, T}), mk, from_vector<int64_t>(types, {B, T}));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = static_cast<int64_t>(rows[b].size());
      Tensor alone_types = from_vector<int64_t>(std::vector<int64_t>(types.begin() + b * T, types.begin() + b * T + n), {1, n});
      Tensor alone = m.forward(from_vector<int64_t>(rows[b], {1, n}), Tensor(), alone_types);
      EXPECT_LT(max_abs_diff(h.select(0, b).narrow(0, 0, n), alone.select(0, 0)), 1e-5) << "row " << b;
    }
  }
}

TEST(Bert, GradientsFlowAndDropoutUsesTheModelGenerator) {
  BertConfig c = tiny();
  BertModel m(c, 5);
  m.train();
  Tensor ids = from_vector<int64_t>({2, 5, 7, 9, 3, 4, 8, 0}, {2, 4});
  Tensor mask = from_vector<int64_t>({1, 1, 1, 1, 1, 1, 1, 0}, {2, 4});
  const uint64_t before = m.dropout_generator().offset();
  Tensor h = m.forward(ids, mask);
  EXPECT_GT(m.dropout_generator().offset(), before);
  Tensor loss = sum(mul(m.pool(h), m.pool(h)));
  loss.backward();
  int with_grad = 0;
  for (auto& [name, p] : m.named_parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ++with_grad;
    for (double v : g.to_vector<double>()) ASSERT_TRUE(std::isfinite(v)) << name;
  }
  EXPECT_EQ(with_grad, static_cast<int>(m.named_parameters().size()));
  EXPECT_GT(sum(abs(m.parameter("encoder.layer.0.attention.self.query.weight").grad())).item(), 0.0);
  // Dropout differs between two train-mode calls, not in eval.
  NoGradGuard ng;
  EXPECT_GT(max_abs_diff(m.forward(ids, mask), m.forward(ids, mask)), 0.0);
  m.eval();
  EXPECT_EQ(max_abs_diff(m.forward(ids, mask), m.forward(ids, mask)), 0.0);
}

TEST(Bert, MaskedLMTiesTheDecoderToTheWordEmbeddings) {
  BertConfig c = tiny();
  BertForMaskedLM mlm(c, 9);
  mlm.eval();
  auto sd = mlm.state_dict();
  EXPECT_TRUE(sd.count("bert.embeddings.word_embeddings.weight"));
  EXPECT_TRUE(sd.count("cls.predictions.bias"));
  EXPECT_TRUE(sd.count("cls.predictions.transform.dense.weight"));
  EXPECT_TRUE(sd.count("cls.predictions.transform.LayerNorm.weight"));
  EXPECT_FALSE(sd.count("bert.pooler.dense.weight"));
  for (auto& [k, v] : sd) EXPECT_EQ(k.find("decoder"), std::string::npos) << k;
  EXPECT_EQ(sd.size(), hf_names(c, false).size() + 5);
  // Its encoder is BertModel(config, seed) without pooler.
  BertModel plain(c, 9, false);
  EXPECT_EQ(max_abs_diff(sd.at("bert.encoder.layer.1.output.dense.weight"),
                         plain.state_dict().at("encoder.layer.1.output.dense.weight")),
            0.0);
  Tensor ids = from_vector<int64_t>({2, 5, 7, 9, 3, 4}, {2, 3});
  Tensor logits = mlm.forward(ids);
  EXPECT_EQ(logits.shape(), Shape({2, 3, 50}));
  // Changing the embedding row of token 7 changes its logit: the weight is shared.
  Tensor before = logits.select(2, 7).clone();
  {
    NoGradGuard ng;
    Generator g(1);  // not a constant row: LayerNorm outputs sum to zero
    mlm.parameter("bert.embeddings.word_embeddings.weight").select(0, 7).add_(randn({16}, g), 0.5);
  }
  EXPECT_GT(max_abs_diff(mlm.forward(ids).select(2, 7), before), 1e-3);
  // The gradient of the tied matrix collects both uses.
  mlm.train();
  Tensor l = cross_entropy(mlm.forward(ids).reshape({6, 50}), ids.reshape({6}));
  l.backward();
  Tensor g = mlm.parameter("bert.embeddings.word_embeddings.weight").grad();
  ASSERT_TRUE(g.defined());
  // Row 40 is never looked up: its gradient comes from the decoder alone.
  EXPECT_GT(max_abs_diff(g.select(0, 40), zeros({16})), 0.0);
}

TEST(Bert, ConfigJsonRoundTripAndErrors) {
  BertConfig c = tiny();
  c.hidden_act = "gelu_new";
  c.layer_norm_eps = 1e-7;
  const std::string text = c.to_json();
  json j = json::parse(text);
  EXPECT_EQ(j["model_type"], "bert");
  EXPECT_EQ(j["architectures"][0], "BertModel");
  EXPECT_EQ(BertConfig::from_json(text), c);
  // Missing keys keep the defaults; keys that change nothing are ignored.
  EXPECT_EQ(BertConfig::from_json(R"({"gradient_checkpointing": false, "transformers_version": "4.40.2"})"),
            BertConfig());
  expect_error<Error>([] { BertConfig::from_json(R"({"position_embedding_type": "relative_key"})", "cfg.json"); },
                      {"position_embedding_type", "cfg.json"});
  expect_error<Error>([] { BertConfig::from_json(R"({"is_decoder": true})"); }, "is_decoder");
  expect_error<Error>([] { BertConfig::from_json(R"({"add_cross_attention": true})"); }, "add_cross_attention");
  expect_error<Error>([] { BertConfig::from_json(R"({"hidden_size": 10, "num_attention_heads": 3})"); },
                      {"hidden_size", "num_attention_heads"});
  expect_error<Error>([] { BertConfig::from_json(R"({"hidden_dropout_prob": 1.0})"); }, "hidden_dropout_prob");
  expect_error<Error>([] { BertConfig::from_json(R"({"hidden_act": "swish"})"); }, "hidden_act");
  expect_error<Error>([] { BertConfig::from_json(R"({"vocab_size": 0})"); }, "vocab_size");
  expect_error<Error>([] { BertConfig::from_json(R"({"vocab_size": "many"})"); }, "vocab_size");
  expect_error<Error>([] { BertConfig::from_json("{"); }, "not valid JSON");
}

TEST(Bert, SaveThenLoadGivesTheSameModel) {
  for (bool pooler : {true, false}) {
    BertModel m(tiny(), 3, pooler);
    perturb(m, 4);
    m.eval();
    fs::path d = temp_dir(pooler ? "pooler" : "nopooler");
    save_hf_bert(m, d.string());
    auto loaded = load_hf_bert(d.string());
    EXPECT_EQ(loaded->config(), m.config());
    EXPECT_EQ(loaded->has_pooler(), pooler);
    EXPECT_FALSE(loaded->is_training());
    Tensor ids = from_vector<int64_t>({2, 5, 7, 9, 3, 4, 8, 1}, {2, 4});
    EXPECT_EQ(max_abs_diff(loaded->forward(ids), m.forward(ids)), 0.0);
    fs::remove_all(d);
  }
}

// "bert." prefixes, MLM heads and buffers, half precision.
TEST(Bert, LoadsPrefixedHalfPrecisionFilesAndSkipsHeads) {
  BertModel m(tiny(), 3);
  perturb(m, 5);
  m.eval();
  fs::path d = temp_dir("prefixed");
  save_hf_bert(m, d.string());
  io::TensorMap out;
  for (auto& [k, v] : m.state_dict()) out["bert." + k] = v.to(DType::BF16);
  out["cls.predictions.bias"] = zeros({50});
  out["bert.embeddings.position_ids"] = arange(0, 20).view({1, 20});
  io::save_safetensors((d / "model.safetensors").string(), out);
  auto loaded = load_hf_bert(d.string());
  Tensor ids = from_vector<int64_t>({2, 5, 7, 9}, {1, 4});
  // bf16 weights: close, not equal.
  EXPECT_LT(max_abs_diff(loaded->forward(ids), m.forward(ids)), 0.1);
  EXPECT_EQ(max_abs_diff(loaded->state_dict().at("pooler.dense.bias"), m.state_dict().at("pooler.dense.bias").to(DType::BF16)),
            0.0);
  fs::remove_all(d);
}

// F16 is not a Tessera dtype: write the bytes by hand (1.0, -2.5, 65504, 2^-24).
TEST(Bert, LoadsFloat16) {
  BertModel m(tiny(), 3, false);
  fs::path d = temp_dir("f16");
  save_hf_bert(m, d.string());
  io::TensorMap st = io::load_safetensors((d / "model.safetensors").string()).tensors;
  st.erase("embeddings.LayerNorm.bias");
  io::save_safetensors((d / "model.safetensors").string(), st);
  // Append an F16 tensor by rewriting the file with a hand-made header.
  std::string body = io::serialize_safetensors(st);
  uint64_t n;
  std::memcpy(&n, body.data(), 8);
  json header = json::parse(body.substr(8, n));
  const std::string data = body.substr(8 + n);
  std::string half;
  const uint16_t vals[4] = {0x3c00, 0xc100, 0x7bff, 0x0001};
  for (int i = 0; i < 16; ++i) half.append(reinterpret_cast<const char*>(&vals[i % 4]), 2);
  header["embeddings.LayerNorm.bias"] = {{"dtype", "F16"}, {"shape", {16}},
                                         {"data_offsets", {data.size(), data.size() + half.size()}}};
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h += ' ';
  n = h.size();
  std::ofstream f(d / "model.safetensors", std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << h << data << half;
  f.close();
  auto loaded = load_hf_bert(d.string());
  auto got = loaded->state_dict().at("embeddings.LayerNorm.bias").to_vector<double>();
  EXPECT_EQ(got[0], 1.0);
  EXPECT_EQ(got[1], -2.5);
  EXPECT_EQ(got[2], 65504.0);
  EXPECT_EQ(got[3], std::ldexp(1.0, -24));
  fs::remove_all(d);
}

TEST(Bert, LoadErrorsNameTheTensorsAndTheConverter) {
  BertModel m(tiny(), 3);
  fs::path d = temp_dir("errors");
  save_hf_bert(m, d.string());
  io::TensorMap st = io::load_safetensors((d / "model.safetensors").string()).tensors;
  st.erase("encoder.layer.1.output.dense.bias");
  st["encoder.layer.0.intermediate.dense.weight"] = zeros({25, 16});
  st["qa_outputs.weight"] = zeros({2, 16});
  io::save_safetensors((d / "model.safetensors").string(), st);
  expect_error<Error>([&] { load_hf_bert(d.string()); },
                      {"missing tensor 'encoder.layer.1.output.dense.bias' [16]",
                       "'encoder.layer.0.intermediate.dense.weight' has shape [25, 16], expected [24, 16]",
                       "unexpected tensor 'qa_outputs.weight' [2, 16]"});
  fs::remove(d / "model.safetensors");
  std::ofstream(d / "pytorch_model.bin") << "x";
  expect_error<Error>([&] { load_hf_bert(d.string()); }, {"pytorch_model.bin", "scripts/convert_pytorch_bin.py"});
  fs::remove_all(d);
  expect_error<Error>([&] { load_hf_bert(d.string()); }, "config.json");
}


// ---- parity with transformers (tests/models/gen_bert_golden.py) ----

const char* golden_dir() { return std::getenv("TESSERA_BERT_GOLDEN_DIR"); }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Max |a - b| over the positions where mask (B, T) is 1; a, b (B, T, C).
double max_diff_real_tokens(const Tensor& a, const Tensor& b, const Tensor& mask) {
  const Tensor m = mask.to(DType::F32).unsqueeze(2);
  return max(abs(mul(sub(a, b), m))).item();
}

Tensor mean_pool(const Tensor& h, const Tensor& mask) {
  const Tensor m = mask.to(DType::F32).unsqueeze(2);               // (B, T, 1)
  return div(sum(mul(h, m), {1}), clamp(sum(m, {1}), 1e-9, std::nullopt));  // (B, C)
}

Tensor l2_normalize(const Tensor& x) {
  return div(x, clamp(sqrt(sum(mul(x, x), {1}, true)), 1e-12, std::nullopt));
}

TEST(BertParity, TinyBertModelMatchesTransformers) {
  const char* dir = golden_dir();
  if (!dir || !*dir) GTEST_SKIP() << "TESSERA_BERT_GOLDEN_DIR not set (run tests/models/gen_bert_golden.py --out DIR)";
  auto g = io::load_safetensors((fs::path(dir) / "tiny.safetensors").string()).tensors;
  auto m = load_hf_bert((fs::path(dir) / "tiny").string());
  ASSERT_TRUE(m->has_pooler());
  NoGradGuard ng;
  const Tensor mask = g.at("attention_mask");
  Tensor h = m->forward(g.at("input_ids"), mask, g.at("token_type_ids"));
  const double dh = max_diff_real_tokens(h, g.at("last_hidden_state"), mask);
  const double dp = max_abs_diff(m->pool(h), g.at("pooler_output"));
  std::printf("tiny BertModel: max |diff| last_hidden_state %.3g, pooler_output %.3g\n", dh, dp);
  EXPECT_LT(dh, 1e-5);
  EXPECT_LT(dp, 1e-5);
  // Padding positions: not compared (HF's values there are meaningless too), but finite.
  for (double v : h.to_vector<double>()) ASSERT_TRUE(std::isfinite(v));
}

TEST(BertParity, TinyMaskedLMMatchesTransformers) {
  const char* dir = golden_dir();
  if (!dir || !*dir) GTEST_SKIP() << "TESSERA_BERT_GOLDEN_DIR not set (run tests/models/gen_bert_golden.py --out DIR)";
  auto g = io::load_safetensors((fs::path(dir) / "tiny.safetensors").string()).tensors;
  const fs::path folder = fs::path(dir) / "tiny_mlm";
  BertForMaskedLM mlm(BertConfig::from_json(read_all(folder / "config.json")), 0);
  nn::StateDict state;
  for (auto& [k, v] : io::load_safetensors((folder / "model.safetensors").string()).tensors)
    if (k.find(".decoder.") == std::string::npos) state[k] = v;  // tied copies, if a writer keeps them
  mlm.load_state_dict(state, true);
  mlm.eval();
  NoGradGuard ng;
  const Tensor mask = g.at("attention_mask"), labels = g.at("labels");
  Tensor logits = mlm.forward(g.at("input_ids"), mask, g.at("token_type_ids"));
  const int64_t V = logits.size(2);
  const double dl = max_diff_real_tokens(logits, g.at("mlm_logits"), mask);
  const double loss = cross_entropy(logits.reshape({-1, V}), labels.reshape({-1})).item();
  const double want = g.at("mlm_loss").to_vector<double>()[0];
  std::printf("tiny BertForMaskedLM: max |diff| logits %.3g, loss %.7f vs %.7f\n", dl, loss, want);
  EXPECT_LT(dl, 1e-5);
  EXPECT_NEAR(loss, want, 1e-5);
  // load_hf_bert reads the same "bert."-prefixed file: the encoder without pooler, cls.* skipped.
  auto enc = load_hf_bert(folder.string());
  EXPECT_FALSE(enc->has_pooler());
  EXPECT_EQ(max_abs_diff(enc->forward(g.at("input_ids"), mask), mlm.bert->forward(g.at("input_ids"), mask)), 0.0);
}

TEST(BertParity, AllMiniLML6V2MatchesTransformersAndSentenceTransformers) {
  const char* dir = golden_dir();
  if (!dir || !*dir) GTEST_SKIP() << "TESSERA_BERT_GOLDEN_DIR not set (run tests/models/gen_bert_golden.py --out DIR)";
  const fs::path missing = fs::path(dir) / "minilm_missing.txt";
  if (fs::exists(missing)) GTEST_SKIP() << read_all(missing);
  const json meta = json::parse(read_all(fs::path(dir) / "minilm.json"));
  auto g = io::load_safetensors((fs::path(dir) / "minilm.safetensors").string()).tensors;
  const auto t0 = std::chrono::steady_clock::now();
  auto m = load_hf_bert(meta.at("folder").get<std::string>());
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(m->config().hidden_size, 384);
  EXPECT_EQ(m->config().num_hidden_layers, 6);
  NoGradGuard ng;
  double dh = 0, dmean = 0, demb = 0;
  const size_t nb = meta.at("batches").size();
  ASSERT_GE(nb, 1u);
  for (size_t k = 0; k < nb; ++k) {
    const std::string p = "b" + std::to_string(k) + ".";
    const Tensor mask = g.at(p + "attention_mask");
    Tensor h = m->forward(g.at(p + "input_ids"), mask, g.at(p + "token_type_ids"));
    dh = std::max(dh, max_diff_real_tokens(h, g.at(p + "last_hidden_state"), mask));
    Tensor mean = mean_pool(h, mask);
    dmean = std::max(dmean, max_abs_diff(mean, g.at(p + "mean_pooled")));
    demb = std::max(demb, max_abs_diff(l2_normalize(mean), g.at(p + "embeddings")));
  }
  std::printf("all-MiniLM-L6-v2 (%zu batches, embeddings from %s): load_hf_bert %.3f s; max |diff| "
              "last_hidden_state %.3g, mean pool %.3g, normalized embedding %.3g\n",
              nb, meta.at("embeddings_from").get<std::string>().c_str(), load_s, dh, dmean, demb);
  EXPECT_LT(dh, 1e-4);
  EXPECT_LT(dmean, 1e-4);
  EXPECT_LT(demb, 1e-4);
}

}  // namespace
}  // namespace tessera::models
