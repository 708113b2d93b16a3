// A GPT with packed weights (quant/quantize_model.h) and its checkpoint
// (checkpoint/quantized.h): logits near float32's, the cached decode paths,
// what a quantized model refuses, and the folder round trip with its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/checkpoint/quantized.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/gpt.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/reduce.h"
#include "tessera/quant/quantize_model.h"
#include "tessera/text/char_tokenizer.h"

using namespace tessera;
using quant::WeightFormat;
namespace fs = std::filesystem;

namespace {

models::GPTConfig small_config() {
  models::GPTConfig c;
  c.vocab_size = 48;  // the test tokenizer has 43 ids
  c.block_size = 32;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 64;
  return c;
}

std::shared_ptr<models::GPT> make_gpt(const models::GPTConfig& c = small_config()) {
  auto m = std::make_shared<models::GPT>(c, 11);
  m->eval();
  return m;
}

Tensor tokens() { return from_vector<int64_t>({1, 5, 9, 2, 33, 7, 7, 0, 12, 39}, {1, 10}); }

// max |a - b| / max |b|
double relative_error(const Tensor& a, const Tensor& b) {
  return test_util::max_abs_diff(a, b) / max(abs(b)).item();
}

std::shared_ptr<models::GPT> quantized(WeightFormat f) {
  auto m = make_gpt();
  quant::QuantizeResult q = quant::quantize_weights(*m, f, {"transformer.wpe.weight"});
  EXPECT_TRUE(q.skipped.empty());
  quant::attach(*m, q.packed);
  return m;
}

}  // namespace

TEST(QuantizedGPT, LogitsNearFloat32AndStateDictDropsPackedWeights) {
  NoGradGuard ng;
  auto ref = make_gpt();
  const Tensor want = ref->forward(tokens());
  const int64_t params = ref->count_parameters(false);
  for (auto [f, tol] : {std::pair{WeightFormat::BF16, 0.02}, {WeightFormat::Int8, 0.03}, {WeightFormat::Q8_0, 0.03},
                        {WeightFormat::Q4_0, 0.25}}) {
    auto m = quantized(f);
    EXPECT_LE(relative_error(m->forward(tokens()), want), tol) << quant::format_name(f);
    EXPECT_EQ(m->count_parameters(false), params);
    auto state = m->state_dict();
    EXPECT_FALSE(state.count("transformer.wte.weight")) << "the tied embedding is packed";
    EXPECT_FALSE(state.count("transformer.h.0.mlp.c_fc.weight"));
    EXPECT_TRUE(state.count("transformer.h.0.mlp.c_fc.bias"));
    EXPECT_TRUE(state.count("transformer.wpe.weight"));
    EXPECT_EQ(quant::packed_weights(*m).size(), 2u * 4 + 1);  // 4 Linear per block + wte
  }
}

TEST(QuantizedGPT, CachedAndBatchedDecodeEqualFullForward) {
  NoGradGuard ng;
  auto m = quantized(WeightFormat::Q8_0);
  const Tensor full = m->forward(tokens());  // (1, 10, V)
  models::KVCache cache = m->make_cache(1, 16);
  const Tensor first = m->forward(tokens().narrow(1, 0, 6), cache);
  EXPECT_LE(test_util::max_abs_diff(first, full.narrow(1, 0, 6)), 1e-4);
  models::KVCache a = m->make_cache(1, 16), b = m->make_cache(1, 16);
  m->forward(tokens().narrow(1, 0, 9), a);
  m->forward(tokens().narrow(1, 0, 4), b);
  const Tensor step = m->decode_step({39, 33}, {&a, &b});  // positions 9 and 4
  EXPECT_LE(test_util::max_abs_diff(step.select(0, 0), full.select(0, 0).select(0, 9)), 1e-4);
  EXPECT_LE(test_util::max_abs_diff(step.select(0, 1), full.select(0, 0).select(0, 4)), 1e-4);
}

TEST(QuantizedGPT, RefusesTrainingAndDequantizes) {
  auto m = quantized(WeightFormat::Q4_0);
  test_util::expect_error<Error>([&] { quant::check_trainable(*m, "tessera finetune --base X"); },
                                 {"finetune --base X", "q4_0", "inference only", "--dtype f32"});
  m->train();
  test_util::expect_error<Error>([&] { m->forward(tokens()); }, {"inference only"});  // grad mode on
  const quant::PackedMap packed = quant::packed_weights(*m);
  quant::dequantize(*m);
  EXPECT_TRUE(quant::packed_weights(*m).empty());
  Tensor w = m->state_dict().at("transformer.h.1.attn.c_proj.weight");
  EXPECT_EQ(test_util::max_abs_diff(w, quant::unpack(packed.at("transformer.h.1.attn.c_proj.weight"))), 0.0);
  EXPECT_NO_THROW(quant::check_trainable(*m, "x"));
}

class QuantizedCheckpoint : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("tessera_quant_ckpt_" + std::to_string(::getpid()));
  void TearDown() override { fs::remove_all(dir); }
  text::CharTokenizer tok = text::CharTokenizer::from_corpus({"abcdefghijklmnopqrstuvwxyz .,;:!?ABCDEFGHIJ"});
};

TEST_F(QuantizedCheckpoint, RoundTripGivesTheSameLogits) {
  NoGradGuard ng;
  for (WeightFormat f : {WeightFormat::BF16, WeightFormat::Int8, WeightFormat::Q8_0, WeightFormat::Q4_0}) {
    const fs::path out = dir / quant::format_name(f);
    auto m = make_gpt();
    checkpoint::QuantizeSummary s = checkpoint::write_quantized_gpt(*m, tok, 7, f, "memory", out.string());
    EXPECT_EQ(s.packed_tensors, 9);
    EXPECT_LT(s.bytes_after, s.bytes_before);
    auto in_memory = quantized(f);
    checkpoint::LoadedGPT g = checkpoint::load_gpt(out.string());
    EXPECT_EQ(g.step, 7);
    EXPECT_EQ(test_util::max_abs_diff(g.model->forward(tokens()), in_memory->forward(tokens())), 0.0)
        << quant::format_name(f);
    // Dequantizing writes a float32 checkpoint with the dequantized values.
    const fs::path back = dir / (std::string(quant::format_name(f)) + "_f32");
    checkpoint::write_quantized_gpt(*g.model, *g.tokenizer, 7, WeightFormat::F32, out.string(), back.string());
    checkpoint::LoadedGPT h = checkpoint::load_gpt(back.string());
    EXPECT_TRUE(quant::packed_weights(*h.model).empty());
    const auto state = h.model->state_dict();
    for (const auto& [name, w] : quant::packed_weights(*in_memory))
      EXPECT_EQ(test_util::max_abs_diff(state.at(name), quant::unpack(w)), 0.0) << name;
  }
}

TEST_F(QuantizedCheckpoint, BadFilesGiveErrorsNamingThem) {
  const fs::path out = dir / "q8";
  auto m = make_gpt();
  checkpoint::write_quantized_gpt(*m, tok, 1, WeightFormat::Q8_0, "memory", out.string());
  test_util::expect_error<Error>([&] { checkpoint::write_quantized_gpt(*m, tok, 1, WeightFormat::Q8_0, "m", out.string()); },
                                 {"already holds a checkpoint"});
  const std::string weights = (out / "model.safetensors").string();
  io::RawSafetensors raw = io::load_safetensors_raw(weights);

  // A packed tensor cut short.
  io::RawTensorMap cut = raw.tensors;
  cut["transformer.h.0.attn.c_attn.weight"].bytes.resize(34);
  cut["transformer.h.0.attn.c_attn.weight"].shape = {1, 34};
  io::save_safetensors_raw(weights, cut, raw.metadata);
  test_util::expect_error<Error>([&] { checkpoint::load_gpt(out.string()); },
                                 {"model.safetensors", "transformer.h.0.attn.c_attn.weight", "bytes"});
  // A packed tensor missing.
  io::RawTensorMap missing = raw.tensors;
  missing.erase("transformer.wte.weight");
  io::save_safetensors_raw(weights, missing, raw.metadata);
  test_util::expect_error<Error>([&] { checkpoint::load_gpt(out.string()); },
                                 {"transformer.wte.weight", "not stored"});
  // Metadata that does not say which tensors are packed.
  io::save_safetensors_raw(weights, raw.tensors, {{"tessera.packed", "[1, 2]"}});
  test_util::expect_error<Error>([&] { checkpoint::load_gpt(out.string()); }, {"tessera.packed", "JSON object"});
  io::save_safetensors_raw(weights, raw.tensors, {});
  test_util::expect_error<Error>([&] { checkpoint::load_gpt(out.string()); },
                                 {"is U8 but is not listed as packed"});
  // An unknown format in config.json.
  io::save_safetensors_raw(weights, raw.tensors, raw.metadata);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(out / "config.json"));
  cfg["weight_format"] = "q5_k";
  std::ofstream(out / "config.json") << cfg.dump();
  test_util::expect_error<Error>([&] { checkpoint::load_gpt(out.string()); }, {"config.json", "weight_format", "q5_k"});
}
