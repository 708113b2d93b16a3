// Generation: KV-cache decoding against full recomputation, batch against one
// by one, stop strings, UTF-8 streaming, context policy and token counts.
//
// Two models: a random tiny GPT (for agreement tests), and a "scripted" GPT
// whose weights make the greedy next token depend only on the position
// (wpe[p] points at the token to emit after position p, blocks contribute
// nothing), so tests can make it write exact byte sequences.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "cli_util.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/generate.h"
#include "tessera/models/hf_gpt2.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;
using namespace tessera::lm;
namespace fs = std::filesystem;

namespace {

// Bytes as ids 0..255, plus <|endoftext|> = 256 when with_eot.
class ByteTokenizer : public text::Tokenizer {
 public:
  explicit ByteTokenizer(bool with_eot = true) : eot_(with_eot) {}
  std::vector<int32_t> encode(std::string_view text, bool allow_special) const override {
    std::vector<int32_t> out;
    const std::string_view tag = "<|endoftext|>";
    for (size_t i = 0; i < text.size();) {
      if (eot_ && allow_special && text.substr(i, tag.size()) == tag) {
        out.push_back(256);
        i += tag.size();
      } else {
        out.push_back(static_cast<unsigned char>(text[i++]));
      }
    }
    return out;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += token_bytes(id);
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    return id == 256 ? std::string("<|endoftext|>") : std::string(1, static_cast<char>(id));
  }
  int64_t vocab_size() const override { return eot_ ? 257 : 256; }
  std::optional<int32_t> eot_id() const override { return eot_ ? std::optional<int32_t>(256) : std::nullopt; }
  std::optional<int32_t> special_id(std::string_view t) const override {
    return eot_ && t == "<|endoftext|>" ? std::optional<int32_t>(256) : std::nullopt;
  }
  std::string kind() const override { return "test-bytes"; }
  void save(const std::string&) const override {}

 private:
  bool eot_;
};

models::GPTConfig tiny_config(int64_t vocab = 257, int64_t block = 48) {
  models::GPTConfig c;
  c.vocab_size = vocab;
  c.block_size = block;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  return c;
}

// Greedy output after position p is script[p] (for p < script.size()).
std::shared_ptr<models::GPT> scripted_gpt(const std::vector<int32_t>& script, int64_t block = 32) {
  models::GPTConfig c;
  c.vocab_size = 257;
  c.block_size = block;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_embd = 264;  // >= vocab: one direction per token
  auto m = std::make_shared<models::GPT>(c, 1);
  NoGradGuard g;
  for (auto& [name, p] : m->named_parameters()) p.zero_();
  m->parameter("transformer.ln_f.weight").fill_(1.0);
  Tensor wte = m->parameter("transformer.wte.weight");  // (V, C), tied to the output
  Tensor wpe = m->parameter("transformer.wpe.weight");  // (block, C)
  for (int64_t i = 0; i < 257; ++i) wte.select(0, i).select(0, i).fill_(1.0);
  for (size_t p = 0; p < script.size() && static_cast<int64_t>(p) < block; ++p)
    wpe.select(0, static_cast<int64_t>(p)).select(0, script[p]).fill_(10.0);
  return m;
}

// The script that writes `bytes` (then `tail` ids) after a prompt of `prompt_len` tokens.
std::vector<int32_t> script_for(int64_t prompt_len, const std::string& bytes, std::vector<int32_t> tail = {}) {
  std::vector<int32_t> s(static_cast<size_t>(prompt_len - 1), 0);
  for (unsigned char c : bytes) s.push_back(c);
  for (int32_t t : tail) s.push_back(t);
  return s;
}

// Reference decoding: the full forward over the whole sequence at every step.
std::vector<int32_t> reference_decode(models::GPT& m, std::vector<int32_t> ids, int64_t n, const SamplingOptions& s,
                                      Generator gen) {
  NoGradGuard g;
  m.eval();
  std::vector<int32_t> out, history = ids;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> v(ids.begin(), ids.end());
    Tensor logits = m.forward(from_vector<int64_t>(v, {1, static_cast<int64_t>(v.size())}));
    auto row = logits.select(0, 0).select(0, logits.size(1) - 1).to_vector<float>();
    int32_t t = sample_token(row, s, gen, history);
    out.push_back(t);
    ids.push_back(t);
    history.push_back(t);
  }
  return out;
}

struct Recorder {
  std::vector<std::vector<std::string>> pieces;
  StreamCallback cb() {
    return [this](size_t i, std::string_view p) {
      if (pieces.size() <= i) pieces.resize(i + 1);
      pieces[i].emplace_back(p);
    };
  }
  std::string joined(size_t i) const {
    std::string s;
    if (i < pieces.size())
      for (const auto& p : pieces[i]) s += p;
    return s;
  }
};

}  // namespace

TEST(Generate, KVCacheMatchesFullRecomputation) {
  models::GPT m(tiny_config(), 7);
  ByteTokenizer tok;
  GenerateOptions o{.max_new_tokens = 30, .temperature = 0, .stop_at_eot = false};
  std::string prompt = "Once upon a time";
  auto got = generate(m, tok, {prompt}, o);
  EXPECT_TRUE(m.is_training()) << "generate must restore the model's mode";
  auto want = reference_decode(m, tok.encode(prompt, true), 30, {.temperature = 0, .allowed_vocab = 257},
                               sequence_generator(0, 0));
  EXPECT_EQ(got[0].tokens, want);
  EXPECT_EQ(got[0].finish_reason, "length");
  EXPECT_EQ(got[0].prompt_tokens, 16);
  EXPECT_EQ(got[0].completion_tokens, 30);

  // Sampled, with every filter: the same random stream gives the same tokens.
  GenerateOptions s{.max_new_tokens = 25, .temperature = 0.9, .top_k = 40, .top_p = 0.9, .seed = 123,
                    .stop_at_eot = false};
  got = generate(m, tok, {prompt}, s);
  want = reference_decode(m, tok.encode(prompt, true), 25,
                          {.temperature = 0.9, .top_k = 40, .top_p = 0.9, .allowed_vocab = 257},
                          sequence_generator(123, 0));
  EXPECT_EQ(got[0].tokens, want);
}

TEST(Generate, NoKVCacheRecomputesAndMatchesCachedPath) {
  models::GPT m(tiny_config(), 9);
  ByteTokenizer tok;
  std::vector<std::string> prompts = {"It was a dark and stormy night", "x"};
  GenerateOptions cached{.max_new_tokens = 16, .temperature = 0, .stop_at_eot = false};
  GenerateOptions recompute = cached;
  recompute.use_kv_cache = false;
  auto a = generate(m, tok, prompts, cached);
  auto b = generate(m, tok, prompts, recompute);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens) << "prompt " << i;
    EXPECT_EQ(a[i].text, b[i].text);
    // Both equal the independent full-forward reference.
    EXPECT_EQ(b[i].tokens, reference_decode(m, tok.encode(prompts[i], true), 16,
                                            {.temperature = 0, .allowed_vocab = 257}, sequence_generator(0, i)));
    // Timing: the first token comes from the prefill, every other from one decode step.
    EXPECT_EQ(b[i].decode_steps, b[i].completion_tokens - 1);
    EXPECT_EQ(a[i].decode_steps, 15);
    EXPECT_GT(a[i].prefill_seconds, 0.0);
    EXPECT_GT(a[i].decode_seconds, 0.0);
    EXPECT_GT(a[i].decode_tokens_per_second(), 0.0);
  }
  // Sampled with the same seed: the same random stream, the same tokens.
  GenerateOptions s{.max_new_tokens = 20, .temperature = 0.8, .top_k = 50, .seed = 4, .stop_at_eot = false};
  auto sc = generate(m, tok, {prompts[0]}, s);
  s.use_kv_cache = false;
  EXPECT_EQ(generate(m, tok, {prompts[0]}, s)[0].tokens, sc[0].tokens);
  // Near the context limit (block 48): truncation and the length stop behave alike.
  GenerateOptions longer{.max_new_tokens = 20, .temperature = 0, .stop_at_eot = false};
  std::string long_prompt(40, 'a');
  auto lc = generate(m, tok, {long_prompt}, longer);
  longer.use_kv_cache = false;
  auto lr = generate(m, tok, {long_prompt}, longer);
  EXPECT_EQ(lc[0].tokens, lr[0].tokens);
  EXPECT_EQ(lr[0].prompt_tokens_dropped, 12);
}

TEST(Generate, BatchEqualsOneByOne) {
  models::GPT m(tiny_config(), 3);
  ByteTokenizer tok;
  std::vector<std::string> prompts = {"Hello", "a", "The quick brown fox", ""};
  for (double temp : {0.0, 1.0}) {
    GenerateOptions o{.max_new_tokens = 12, .temperature = temp, .top_p = 0.95, .seeds = {11, 22, 33, 44},
                      .stop_at_eot = false};
    auto batch = generate(m, tok, prompts, o);
    ASSERT_EQ(batch.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerateOptions one = o;
      one.seeds = {o.seeds[i]};
      auto single = generate(m, tok, {prompts[i]}, one);
      EXPECT_EQ(batch[i].tokens, single[0].tokens) << "prompt " << i << " temperature " << temp;
      EXPECT_EQ(batch[i].text, single[0].text);
    }
  }
  // Default streams: sequence i of a seed differs from sequence j.
  GenerateOptions o{.max_new_tokens = 12, .temperature = 1.0, .seed = 5, .stop_at_eot = false};
  auto two = generate(m, tok, {"same", "same"}, o);
  EXPECT_NE(two[0].tokens, two[1].tokens);
  EXPECT_EQ(generate(m, tok, {"same", "same"}, o)[1].tokens, two[1].tokens) << "same seed, same tokens";
}

TEST(Generate, ScriptedModelWritesItsScript) {
  auto m = scripted_gpt(script_for(2, "hello", {256}));
  ByteTokenizer tok;
  Recorder r;
  auto out = generate(*m, tok, {"ab"}, {.max_new_tokens = 20, .temperature = 0}, r.cb());
  EXPECT_EQ(out[0].text, "hello");
  EXPECT_EQ(out[0].finish_reason, "stop");  // <|endoftext|>
  EXPECT_EQ(out[0].completion_tokens, 6);   // five bytes + eot
  EXPECT_EQ(out[0].tokens.back(), 256);
  EXPECT_EQ(r.pieces[0], (std::vector<std::string>{"h", "e", "l", "l", "o"}));
  // Without stop_at_eot the eot's text is part of the output.
  out = generate(*m, tok, {"ab"}, {.max_new_tokens = 6, .temperature = 0, .stop_at_eot = false});
  EXPECT_EQ(out[0].text, "hello<|endoftext|>");
  EXPECT_EQ(out[0].finish_reason, "length");
}

TEST(Generate, StreamingWaitsForWholeUtf8Characters) {
  // "a€b" = 61 E2 82 AC 62, one byte per token; then "é" = C3 A9.
  auto m = scripted_gpt(script_for(1, "a\xE2\x82\xAC" "b\xC3\xA9", {256}));
  ByteTokenizer tok;
  Recorder r;
  auto out = generate(*m, tok, {"x"}, {.max_new_tokens = 20, .temperature = 0}, r.cb());
  EXPECT_EQ(out[0].text, "a\xE2\x82\xAC" "b\xC3\xA9");
  EXPECT_EQ(r.pieces[0], (std::vector<std::string>{"a", "\xE2\x82\xAC", "b", "\xC3\xA9"}));
  // Cut inside a character by max_new_tokens: the raw bytes come last, and the pieces still add up.
  Recorder r2;
  out = generate(*m, tok, {"x"}, {.max_new_tokens = 3, .temperature = 0}, r2.cb());
  EXPECT_EQ(out[0].text, "a\xE2\x82");
  EXPECT_EQ(out[0].finish_reason, "length");
  EXPECT_EQ(r2.pieces[0], (std::vector<std::string>{"a", "\xE2\x82"}));
}

TEST(Generate, StopStrings) {
  auto m = scripted_gpt(script_for(1, "hello world, hello moon", {256}));
  ByteTokenizer tok;
  Recorder r;
  GenerateOptions o{.max_new_tokens = 30, .temperature = 0, .stop = {"lo w", "moon"}};
  auto out = generate(*m, tok, {"x"}, o, r.cb());
  EXPECT_EQ(out[0].text, "hel");
  EXPECT_EQ(out[0].finish_reason, "stop");
  EXPECT_EQ(out[0].completion_tokens, 7);  // "hello w": the stop string's tokens were generated
  EXPECT_EQ(r.joined(0), "hel");
  // "l" and "lo" could have started "lo w": held back, never streamed as a piece.
  EXPECT_EQ(r.pieces[0], (std::vector<std::string>{"h", "e", "l"}));

  // A held-back prefix that does not become the stop string is released.
  Recorder r2;
  o.stop = {"lo!", "moon"};
  out = generate(*m, tok, {"x"}, o, r2.cb());
  EXPECT_EQ(out[0].text, "hello world, hello ");
  EXPECT_EQ(r2.joined(0), out[0].text);
  EXPECT_EQ(out[0].completion_tokens, 23);

  // The earliest stop string wins; a stop string at the very start leaves empty text.
  o.stop = {"world", "h"};
  out = generate(*m, tok, {"x"}, o);
  EXPECT_EQ(out[0].text, "");
  EXPECT_EQ(out[0].completion_tokens, 1);
  o.stop = {""};
  test_util::expect_error<Error>([&] { generate(*m, tok, {"x"}, o); }, "stop string");
}

TEST(Generate, ContextPolicyAndCounts) {
  ByteTokenizer tok;
  models::GPT m(tiny_config(257, 16), 1);
  // max_new_tokens must leave room for a prompt.
  test_util::expect_error<Error>([&] { generate(m, tok, {"hi"}, {.max_new_tokens = 16}); },
                                 std::vector<std::string>{"max_new_tokens", "block_size 16"});
  // A long prompt keeps its last block_size - max_new_tokens tokens.
  GenerateOptions o{.max_new_tokens = 10, .temperature = 0, .stop_at_eot = false};
  auto out = generate(m, tok, {"abcdefghijklmnopqrst"}, o);
  EXPECT_TRUE(out[0].prompt_truncated);
  EXPECT_EQ(out[0].prompt_tokens, 6);
  EXPECT_EQ(out[0].prompt_tokens_dropped, 14);
  EXPECT_EQ(out[0].completion_tokens, 10);
  EXPECT_EQ(out[0].tokens, generate(m, tok, {"opqrst"}, o)[0].tokens);
  EXPECT_FALSE(generate(m, tok, {"opqrst"}, o)[0].prompt_truncated);
  // An empty prompt starts from <|endoftext|>.
  out = generate(m, tok, {""}, o);
  EXPECT_EQ(out[0].prompt_tokens, 1);
  EXPECT_EQ(out[0].tokens, generate(m, tok, {"<|endoftext|>"}, o)[0].tokens);
  ByteTokenizer no_eot(false);
  test_util::expect_error<Error>([&] { generate(m, no_eot, {""}, o); }, "empty");
  // max_new_tokens 0: nothing generated, prompt still counted.
  out = generate(m, tok, {"abc"}, {.max_new_tokens = 0});
  EXPECT_EQ(out[0].completion_tokens, 0);
  EXPECT_EQ(out[0].prompt_tokens, 3);
  EXPECT_EQ(out[0].finish_reason, "length");
}

TEST(Generate, PaddedModelVocabularyIsNeverSampled) {
  ByteTokenizer tok;
  // 63 padding rows past the tokenizer's 257: at a high temperature an
  // unmasked sampler would draw one about every fifth token.
  models::GPT m(tiny_config(320), 2);
  auto out = generate(m, tok, {"hi"}, {.max_new_tokens = 40, .temperature = 3.0, .stop_at_eot = false});
  for (int32_t t : out[0].tokens) EXPECT_LT(t, 257);
  // A tokenizer larger than the model is an error naming both sizes.
  models::GPT small(tiny_config(200), 2);
  test_util::expect_error<Error>([&] { generate(small, tok, {"hi"}, {.max_new_tokens = 5}); }, std::vector<std::string>{"257", "200"});
}

TEST(Generate, LoadCheckpointFolders) {
  fs::path root = fs::temp_directory_path() / ("tessera_gen_ck_" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto tok = text::CharTokenizer::from_corpus({"hello world, said the model"}, {"<|endoftext|>"});
  auto cfg = tiny_config(tok.vocab_size() + 5);  // a padded vocabulary loads
  auto write_step = [&](int64_t step, const models::GPT& m) {
    fs::path dir = root / "checkpoints" / ("step-" + std::to_string(step));
    fs::create_directories(dir);
    io::save_safetensors((dir / "model.safetensors").string(), m.state_dict());
    std::ofstream(dir / "config.json") << "{\"format_version\": 1, \"step\": " << step
                                       << ", \"model\": " << cfg.to_json() << "}";
    return dir;
  };
  models::GPT older(cfg, 8), newest(cfg, 9);
  write_step(2, older);
  fs::path step5 = write_step(5, newest);

  // No tokenizer anywhere: a clear error.
  test_util::expect_error<Error>([&] { checkpoint::load_gpt(root.string()); }, "no tokenizer");
  // The run folder's tokenizer and newest checkpoint: generates what the saved model does.
  tok.save((root / "tokenizer.json").string());
  auto loaded = checkpoint::load_gpt(root.string());
  EXPECT_EQ(loaded.step, 5);
  EXPECT_EQ(loaded.format, "tessera");
  EXPECT_EQ(fs::path(loaded.checkpoint_dir), step5);
  GenerateOptions o{.max_new_tokens = 12, .temperature = 0.8, .seed = 4, .stop_at_eot = false};
  auto want = generate(newest, tok, {"hello"}, o);
  auto got = generate(*loaded.model, *loaded.tokenizer, {"hello"}, o);
  EXPECT_EQ(got[0].tokens, want[0].tokens);
  EXPECT_NE(generate(older, tok, {"hello"}, o)[0].tokens, want[0].tokens);

  // A Hugging Face GPT-2 folder (config.json + model.safetensors).
  fs::path hf = root / "hf";
  models::export_hf_gpt2(newest, hf.string());
  auto from_hf = checkpoint::load_gpt(hf.string(), (root / "tokenizer.json").string());
  EXPECT_EQ(from_hf.format, "hf-gpt2");
  EXPECT_EQ(generate(*from_hf.model, *from_hf.tokenizer, {"hello"}, o)[0].tokens, want[0].tokens);

  // Not found.
  test_util::expect_error<Error>([&] { checkpoint::load_gpt((root / "nope").string()); }, "not found");
  // A config without a model section.
  fs::create_directories(root / "bad");
  std::ofstream(root / "bad" / "config.json") << "{\"format_version\": 1, \"step\": 1}";
  test_util::expect_error<Error>([&] { checkpoint::load_gpt((root / "bad").string()); }, "\"model\"");
  // Weights that disagree with the config name the tensor.
  fs::create_directories(root / "wide");
  auto wide = cfg;
  wide.n_embd = 48;
  std::ofstream(root / "wide" / "config.json") << "{\"format_version\": 1, \"model\": " << wide.to_json() << "}";
  fs::copy_file(step5 / "model.safetensors", root / "wide" / "model.safetensors");
  test_util::expect_error<Error>([&] { checkpoint::load_gpt((root / "wide").string(), "unused"); },
                                 "transformer.wte.weight");
  // A tokenizer that does not belong to the model: both sizes named.
  fs::create_directories(root / "big");
  auto big = cfg;
  big.vocab_size = 500;
  models::GPT big_model(big, 1);
  io::save_safetensors((root / "big" / "model.safetensors").string(), big_model.state_dict());
  std::ofstream(root / "big" / "config.json") << "{\"format_version\": 1, \"model\": " << big.to_json() << "}";
  test_util::expect_error<Error>(
      [&] { checkpoint::load_gpt((root / "big").string(), (root / "tokenizer.json").string()); },
      std::vector<std::string>{std::to_string(tok.vocab_size()), "500"});
  fs::remove_all(root);
}

namespace {

// The built `tessera` binary (next to the tests folder of the build tree), or $TESSERA_BINARY.
using test_util::run_tessera;
using test_util::tessera_binary;

}  // namespace

TEST(Generate, CommandLine) {
  if (!fs::exists(tessera_binary())) GTEST_SKIP() << "tessera binary not built at " << tessera_binary();
  ASSERT_EQ(run_tessera("generate --help", ">/dev/null 2>&1").first, 0)
      << tessera_binary() << " has no generate command (add_generate_command in src/tools/main.cpp)";
  fs::path dir = fs::temp_directory_path() / ("tessera_gen_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto tok = text::CharTokenizer::from_corpus({"hello world, said the model"}, {"<|endoftext|>"});
  auto cfg = tiny_config(tok.vocab_size());
  models::GPT m(cfg, 21);
  io::save_safetensors((dir / "model.safetensors").string(), m.state_dict());
  std::ofstream(dir / "config.json") << "{\"format_version\": 1, \"model\": " << cfg.to_json() << "}";
  tok.save((dir / "tokenizer.json").string());
  GenerateOptions o{.max_new_tokens = 10, .temperature = 0.7, .seed = 3, .stop_at_eot = false};
  auto want = generate(m, tok, {"hello", "the"}, o);

  std::string base = "generate --checkpoint " + dir.string() + " -n 10 -t 0.7 --seed 3 --ignore-eot --threads 1";
  // One prompt streams to stdout, then a newline.
  auto [rc, out] = run_tessera(base + " --prompt hello", "2>/dev/null");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, want[0].text + "\n");
  // json: one object per prompt with the exact usage.
  std::tie(rc, out) = run_tessera(base + " --prompt hello --prompt the --format json", "2>/dev/null");
  EXPECT_EQ(rc, 0);
  std::istringstream lines(out);
  std::string line;
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(std::getline(lines, line)) << out;
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["index"], i);
    EXPECT_EQ(j["text"], want[i].text);
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["prompt_tokens"], want[i].prompt_tokens);
    EXPECT_EQ(j["usage"]["completion_tokens"], 10);
  }
  // json timing, and --no-kv-cache gives the same text.
  std::tie(rc, out) = run_tessera(base + " --prompt hello --format json --no-kv-cache", "2>/dev/null");
  EXPECT_EQ(rc, 0);
  {
    auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["text"], want[0].text);
    EXPECT_EQ(j["kv_cache"], false);
    EXPECT_EQ(j["timing"]["decode_steps"], 9);
    EXPECT_GT(j["timing"]["decode_seconds"].get<double>(), 0.0);
    EXPECT_GT(j["timing"]["prefill_seconds"].get<double>(), 0.0);
    EXPECT_GT(j["timing"]["decode_tokens_per_second"].get<double>(), 0.0);
  }
  // Errors: one line on stderr, non-zero exit.
  std::tie(rc, out) = run_tessera("generate --checkpoint " + (dir / "missing").string() + " --prompt x", "2>&1 >/dev/null");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("checkpoint not found"), std::string::npos) << out;
  std::tie(rc, out) = run_tessera(base + " --prompt hello --top-p 1.5", "2>&1 >/dev/null");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("top_p"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::tie(rc, out) = run_tessera("generate --checkpoint " + dir.string() + " --prompt hello -n 48", "2>&1 >/dev/null");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("block_size 48"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::tie(rc, out) = run_tessera(base + " --prompt a b", "2>&1 >/dev/null");
  EXPECT_EQ(rc, 2) << out;
  fs::remove_all(dir);
}
