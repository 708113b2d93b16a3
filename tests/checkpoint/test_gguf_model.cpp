// GGUF models in Tessera (checkpoint/gguf_model.h): the staged tiny llama
// loads and generates; a GPT exported to GGUF loads back with the same
// weights (F32 exactly, Q8_0 / Q4_0 as Tessera's own quantization); bad files
// and unsupported models are one-line errors naming the file.
#include <gtest/gtest.h>

#include <filesystem>

#include "checkpoint/gguf_test_models.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/checkpoint/gguf_model.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/lm/generate.h"
#include "tessera/ops/reduce.h"
#include "tessera/quant/quantize_model.h"
#include "tessera/text/char_tokenizer.h"
#include "test_util.h"

using namespace tessera;
using tessera::test_util::expect_error;
using tessera::test_util::max_abs_diff;
namespace fs = std::filesystem;

namespace {

fs::path tiny_llama() {
  const char* env = std::getenv("TESSERA_SHARED_DATA");
  const fs::path data =
      env ? fs::path(env)
          : fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data";
  return data / "models" / "llama-2-tiny-random" / "llama-2-tiny-random.gguf";
}

Tensor logits_of(models::GPT& model, std::vector<int64_t> ids) {
  NoGradGuard ng;
  return model.forward(from_vector(ids, {1, int64_t(ids.size())}));
}

class GgufModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_gguf_model_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string p(const std::string& name) const { return (dir_ / name).string(); }

  // A copy of `src` with `edit` applied to its metadata and tensors.
  std::string rewrite(const std::string& src, const std::string& name,
                      const std::function<void(io::GgufWriter&, std::vector<io::GgufTensorInfo>&)>& edit) {
    io::GgufFile f = io::GgufFile::open(src);
    io::GgufWriter w;
    for (const auto& k : f.keys()) w.set(k, *f.find(k));
    std::vector<io::GgufTensorInfo> tensors = f.tensors();
    edit(w, tensors);
    for (const auto& t : tensors) {
      const io::GgufTensorInfo* orig = f.find_tensor(t.name);  // an added tensor gets zeros
      std::string bytes = orig ? std::string(reinterpret_cast<const char*>(f.data(*orig)), orig->nbytes)
                               : std::string(t.nbytes, '\0');
      w.add_tensor(t.name, t.dims, t.type, bytes);
    }
    w.write(p(name));
    return p(name);
  }
  fs::path dir_;
};

TEST_F(GgufModel, TinyLlamaLoads) {
  if (!fs::exists(tiny_llama())) GTEST_SKIP() << tiny_llama() << " not found (set TESSERA_SHARED_DATA)";
  checkpoint::LoadedGgufModel g = checkpoint::load_gguf_model(tiny_llama().string());
  const models::GPTConfig& c = g.model->config();
  EXPECT_EQ(g.architecture, "llama");
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.n_embd, 8);
  EXPECT_EQ(c.n_head, 2);
  EXPECT_EQ(c.n_layer, 1);
  EXPECT_EQ(c.hidden_dim(), 32);
  EXPECT_EQ(c.block_size, 4096);
  EXPECT_EQ(c.position, "rope");
  EXPECT_EQ(c.norm, "rmsnorm");
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_TRUE(quant::packed_weights(*g.model).empty());  // F16 and F32 only
  // Greedy decoding through the KV cache picks the full forward's argmax.
  std::vector<int64_t> ids = {1, 450, 4996};
  for (int step = 0; step < 6; ++step) {
    Tensor l = logits_of(*g.model, ids);
    ids.push_back(int64_t(argmax(l.select(1, int64_t(ids.size()) - 1), -1).item()));
  }
  models::KVCache cache = g.model->make_cache(1, 16);
  std::vector<int64_t> cached = {1, 450, 4996};
  NoGradGuard ng;
  Tensor l = g.model->forward(from_vector(cached, {1, 3}), cache, true);
  for (int step = 0; step < 6; ++step) {
    const int64_t next = int64_t(argmax(l.view({-1}), 0).item());
    cached.push_back(next);
    l = g.model->forward(from_vector(std::vector<int64_t>{next}, {1, 1}), cache);
  }
  EXPECT_EQ(cached, ids);
}

// With the vocabulary the file carries (text/gguf_vocab.h), the tiny llama
// generates through load_gpt like any checkpoint, its prompts starting with
// BOS as llama.cpp's do (llama.cpp tokenizes "Hello world" with BOS as 1,
// 15043, 3186).
TEST_F(GgufModel, TinyLlamaGeneratesWithItsVocabulary) {
  if (!fs::exists(tiny_llama())) GTEST_SKIP() << tiny_llama() << " not found (set TESSERA_SHARED_DATA)";
  checkpoint::LoadedGPT g = checkpoint::load_gpt(tiny_llama().string());
  EXPECT_EQ(g.format, "gguf");
  EXPECT_EQ(g.tokenizer_path, tiny_llama().string());
  EXPECT_EQ(g.tokenizer->vocab_size(), 32000);
  EXPECT_TRUE(g.tokenizer->adds_bos());
  EXPECT_EQ(lm::encode_prompt(*g.tokenizer, "Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  lm::GenerateOptions o;
  o.max_new_tokens = 8;
  o.temperature = 0;
  o.stop_at_eot = false;
  auto out = lm::generate(*g.model, *g.tokenizer, {"Hello world", ""}, o);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].prompt_tokens, 3);
  EXPECT_EQ(out[0].completion_tokens, 8);
  EXPECT_EQ(out[1].prompt_tokens, 1);  // an empty prompt is BOS alone
  // The same tokens as greedy decoding of the ids by hand.
  std::vector<int64_t> ids = {1, 15043, 3186};
  for (int step = 0; step < 8; ++step) {
    Tensor l = logits_of(*g.model, ids);
    ids.push_back(int64_t(argmax(l.select(1, int64_t(ids.size()) - 1), -1).item()));
  }
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 3, ids.end()), out[0].tokens);
}

// An exported file carries the model's BPE vocabulary: loading it back gives
// the same ids for any text, and no BOS (GPT-2 prompts have none).
TEST_F(GgufModel, ExportCarriesTheVocabulary) {
  const std::string path = gguf_test::write_export(dir_.string(), "gpt2", "f32");
  checkpoint::LoadedGPT g = checkpoint::load_gpt(path);
  auto bpe = gguf_test::small_bpe();
  EXPECT_EQ(g.tokenizer->vocab_size(), 272);  // padded with [PADn] like the model
  EXPECT_FALSE(g.tokenizer->adds_bos());
  for (const std::string text : {"the thing in the garden", "<|endoftext|>another one", "\xff\x00bytes"})
    EXPECT_EQ(g.tokenizer->encode(text, true), bpe->encode(text, true)) << text;
  EXPECT_EQ(g.tokenizer->eot_id(), bpe->eot_id());
}

TEST_F(GgufModel, F32ExportRoundTripsExactly) {
  for (const std::string arch : {"gpt2", "llama"}) {
    SCOPED_TRACE(arch);
    auto model = gguf_test::small_model(arch);
    const std::string path = gguf_test::write_export(dir_.string(), arch, "f32");
    checkpoint::LoadedGgufModel back = checkpoint::load_gguf_model(path);
    EXPECT_EQ(back.architecture, arch);
    models::GPTConfig want = model->config();  // as the file spells it: explicit widths, a float32 eps
    want.mlp_hidden = want.hidden_dim();
    want.norm_eps = float(want.norm_eps);
    EXPECT_EQ(back.model->config(), want);
    const nn::StateDict a = model->state_dict(), b = back.model->state_dict();
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) EXPECT_EQ(max_abs_diff(t, b.at(name)), 0.0) << name;
    const std::vector<int64_t> ids = {266, 84, 104, 105, 258, 32, 119, 97};
    EXPECT_EQ(max_abs_diff(logits_of(*model, ids), logits_of(*back.model, ids)), 0.0);
  }
}

// Q8_0 / Q4_0: the file holds Tessera's own quantization (quant::pack) of each
// weight matrix, and the loaded model runs from exactly those blocks: its
// logits equal those of the original model quantized in memory
// (quant::quantize_weights + attach). A model holding packed weights exports
// its blocks unchanged.
TEST_F(GgufModel, QuantizedExportRoundTrips) {
  for (const std::string arch : {"gpt2", "llama"}) {
    for (const std::string dtype : {"q8_0", "q4_0"}) {
      SCOPED_TRACE(arch + " " + dtype);
      auto model = gguf_test::small_model(arch);
      const quant::WeightFormat fmt = quant::parse_format(dtype);
      const std::string path = gguf_test::write_export(dir_.string(), arch, dtype);
      checkpoint::LoadedGgufModel back = checkpoint::load_gguf_model(path);
      const quant::PackedMap got = quant::packed_weights(*back.model);
      quant::QuantizeResult mine = quant::quantize_weights(*model, fmt, {"transformer.wpe.weight"});
      EXPECT_TRUE(mine.skipped.empty());
      ASSERT_EQ(got.size(), mine.packed.size());
      for (const auto& [name, w] : mine.packed) {
        ASSERT_TRUE(got.count(name)) << name;
        EXPECT_EQ(got.at(name).format, fmt) << name;
        EXPECT_EQ(quant::to_bytes(got.at(name)), quant::to_bytes(w)) << name;
      }
      // Norms, biases and positions stay float32, bit for bit.
      const nn::StateDict want = model->state_dict(), rest = back.model->state_dict();
      for (const auto& [name, t] : rest) EXPECT_EQ(max_abs_diff(t, want.at(name)), 0.0) << name;
      quant::attach(*model, mine.packed);
      const std::vector<int64_t> ids = {266, 84, 104, 105, 258, 32, 119, 97};
      EXPECT_EQ(max_abs_diff(logits_of(*model, ids), logits_of(*back.model, ids)), 0.0);
      // Exported again from the packed model: the same file.
      checkpoint::GgufExportOptions o;
      o.dtype = dtype;
      o.name = "tessera-test-" + arch;
      checkpoint::export_gguf(*back.model, *gguf_test::small_bpe(), p("again.gguf"), o);
      EXPECT_EQ(gguf_test::fnv1a64_hex(p("again.gguf")), gguf_test::fnv1a64_hex(path));
    }
  }
}

TEST_F(GgufModel, RefusesWhatItCannotRun) {
  const std::string good = gguf_test::write_export(dir_.string(), "llama", "f32");
  auto set = [&](const std::string& key, io::GgufValue v) {
    return [key, v](io::GgufWriter& w, std::vector<io::GgufTensorInfo>&) { w.set(key, v); };
  };
  auto load = [](const std::string& path) { return [path] { checkpoint::load_gguf_model(path); }; };
  expect_error<Error>(load(rewrite(good, "arch.gguf", set("general.architecture", io::GgufValue::of_string("falcon")))),
                      {"arch.gguf", "architecture 'falcon'", "not supported"});
  const auto kv1 = set("llama.attention.head_count_kv", io::GgufValue::of_uint32(1));
  expect_error<Error>(load(rewrite(good, "gqa.gguf", kv1)),
                      {"gqa.gguf", "grouped-query", "head_count_kv = 1", "head_count = 2"});
  expect_error<Error>(load(rewrite(good, "missing.gguf",
                                   [](io::GgufWriter&, std::vector<io::GgufTensorInfo>& t) {
                                     std::erase_if(t, [](auto& i) { return i.name == "blk.1.ffn_up.weight"; });
                                   })),
                      {"missing.gguf", "'blk.1.ffn_up.weight' is missing"});
  expect_error<Error>(load(rewrite(good, "extra.gguf",
                                   [](io::GgufWriter& w, std::vector<io::GgufTensorInfo>& t) {
                                     io::GgufTensorInfo x = t.back();
                                     x.name = "rope_freqs.weight";
                                     t.push_back(x);
                                     (void)w;
                                   })),
                      {"extra.gguf", "unexpected tensor 'rope_freqs.weight'"});
  expect_error<Error>(load(rewrite(good, "hp.gguf", set("llama.feed_forward_length", io::GgufValue::of_uint32(96)))),
                      {"hp.gguf", "blk.0.ffn_gate.weight", "ggml dims [64, 128]", "expected [64, 96]"});
  // A K-quant tensor: named by its type.
  io::GgufWriter w;
  w.set("general.architecture", io::GgufValue::of_string("gpt2"));
  for (const char* k : {"gpt2.embedding_length", "gpt2.block_count", "gpt2.attention.head_count",
                        "gpt2.context_length", "gpt2.feed_forward_length"})
    w.set(k, io::GgufValue::of_uint32(256));
  w.set("gpt2.attention.layer_norm_epsilon", io::GgufValue::of_float32(1e-5f));
  w.add_tensor("token_embd.weight", {256, 4}, io::GgmlType::Q4_K, std::string(4 * 144, '\0'));
  w.write(p("q4k.gguf"));
  expect_error<Error>(load(p("q4k.gguf")), {"q4k.gguf", "token_embd.weight", "type Q4_K", "cannot load"});
}

TEST_F(GgufModel, ExportRefusesWhatLlamaCppCannotRun) {
  auto model = gguf_test::small_model("gpt2");
  const text::CharTokenizer chars = text::CharTokenizer::from_corpus({"abc"});
  expect_error<Error>([&] { checkpoint::export_gguf(*model, chars, p("c.gguf")); }, {"char", "cannot be written"});
  models::GPTConfig odd = gguf_test::small_config("gpt2");
  odd.position = "rope";
  models::GPT rope_gelu(odd);
  expect_error<Error>([&] { checkpoint::export_gguf(rope_gelu, *gguf_test::small_bpe(), p("r.gguf")); },
                      {"position \"rope\"", "gelu", "neither"});
  checkpoint::GgufExportOptions o;
  o.dtype = "q5_k";
  expect_error<Error>([&] { checkpoint::export_gguf(*model, *gguf_test::small_bpe(), p("q.gguf"), o); },
                      {"q5_k", "f32, f16, q8_0, q4_0"});
  EXPECT_FALSE(fs::exists(p("c.gguf")));
}

// The fuzzing seeds under tests/fixtures/gguf_corpus/ are all clean errors.
TEST_F(GgufModel, CorpusSeedsAreErrors) {
  const fs::path corpus = fs::path(TESSERA_TESTS_DIR) / "fixtures" / "gguf_corpus";
  int n = 0;
  for (const auto& e : fs::directory_iterator(corpus)) {
    if (e.path().extension() != ".gguf") continue;
    ++n;
    SCOPED_TRACE(e.path().filename().string());
    expect_error<Error>([&] { checkpoint::load_gguf_model(e.path().string()); }, {e.path().filename().string()});
  }
  EXPECT_GE(n, 8);
}

}  // namespace
