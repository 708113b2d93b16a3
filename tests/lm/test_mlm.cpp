// BERT masking (lm/mlm.h): the selection and replacement fractions match
// 15% / 80-10-10 on many positions, specials are never selected, labels hold
// the original ids, and the masks are a function of the generator state.
// Then `pretrain` with objective "mlm" (lm/pretrain.h): a tiny BERT on Tiny
// Shakespeare (char shards with BERT's specials): the masked-LM loss falls,
// the checkpoint holds a BertForMaskedLM under HF names, an interrupted +
// resumed run is bit-identical, and a tokenizer without [MASK] is a clear error.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli_util.h"
#include "tessera/core/parallel.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/mlm.h"
#include "tessera/lm/pretrain.h"
#include "tessera/models/bert.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"
#include "tessera/checkpoint/folders.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;
using tessera::test_util::expect_error;

namespace {

constexpr int64_t kVocab = 1000, kMask = 3, kCls = 1, kSep = 2, kPad = 0;

lm::MlmOptions options() {
  lm::MlmOptions o;
  o.mask_id = kMask;
  o.vocab_size = kVocab;
  o.special_ids = {kCls, kSep, kPad};
  o.pad_id = kPad;
  return o;
}

// Rows [CLS] w... [SEP] [PAD] [PAD] with w uniform over the non-special ids.
Tensor make_ids(int64_t B, int64_t T, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> v = randint(4, kVocab, {B, T}, g).to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    v[b * T] = kCls;
    v[b * T + T - 3] = kSep;
    v[b * T + T - 2] = kPad;
    v[b * T + T - 1] = kPad;
  }
  return from_vector(v, {B, T});
}

TEST(MlmMasking, FractionsMatchBert) {
  const int64_t B = 400, T = 512;  // 204,800 positions, 400 * 4 of them special
  Tensor ids = make_ids(B, T, 7);
  Generator gen(11);
  auto m = lm::mask_tokens(ids, options(), gen);
  auto in = ids.to_vector<int64_t>(), x = m.input_ids.to_vector<int64_t>(), y = m.labels.to_vector<int64_t>();
  auto am = m.attention_mask.to_vector<int64_t>();
  int64_t eligible = 0, selected = 0, masked = 0, randomized = 0, kept = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    bool special = in[i] == kCls || in[i] == kSep || in[i] == kPad;
    EXPECT_EQ(am[i], in[i] == kPad ? 0 : 1);
    if (special) {
      ASSERT_EQ(y[i], -100) << "special id selected at " << i;
      ASSERT_EQ(x[i], in[i]) << "special id replaced at " << i;
      continue;
    }
    ++eligible;
    if (y[i] == -100) {
      ASSERT_EQ(x[i], in[i]) << "unselected position changed at " << i;
      continue;
    }
    ASSERT_EQ(y[i], in[i]) << "label is not the original id at " << i;
    ++selected;
    ASSERT_GE(x[i], 0);
    ASSERT_LT(x[i], kVocab);
    if (x[i] == kMask) ++masked;
    else if (x[i] == in[i]) ++kept;
    else ++randomized;
  }
  EXPECT_EQ(eligible, B * (T - 4));
  EXPECT_EQ(m.num_selected, selected);
  // Binomial bounds at ~5 standard deviations: sd(selected) = sqrt(n p q) ~ 160 of 30,000;
  // sd of the 80% fraction ~ 0.0023, of the 10% ones ~ 0.0017.
  double p_sel = static_cast<double>(selected) / static_cast<double>(eligible);
  EXPECT_NEAR(p_sel, 0.15, 0.004);
  double s = static_cast<double>(selected);
  EXPECT_NEAR(masked / s, 0.8, 0.012);
  // A random id equals the original (or [MASK]) with probability 1/1000: +-0.0001, inside the bound.
  EXPECT_NEAR(randomized / s, 0.1, 0.009);
  EXPECT_NEAR(kept / s, 0.1, 0.009);
}

TEST(MlmMasking, RandomReplacementsAreUniformOverTheVocabulary) {
  lm::MlmOptions o = options();
  o.mask_prob = 1.0, o.replace_mask = 0.0, o.replace_random = 1.0;  // every eligible position randomized
  o.vocab_size = 10;
  o.special_ids = {};
  o.mask_id = 9;
  Tensor ids = zeros({200, 500}, {.dtype = DType::I64});
  Generator gen(5);
  auto x = lm::mask_tokens(ids, o, gen).input_ids.to_vector<int64_t>();
  std::vector<int64_t> count(10, 0);
  for (int64_t v : x) {
    ASSERT_GE(v, 0);
    ASSERT_LT(v, 10);
    ++count[static_cast<size_t>(v)];
  }
  for (int64_t c : count) EXPECT_NEAR(static_cast<double>(c) / 100000.0, 0.1, 0.005);  // sd ~ 0.001
}

TEST(MlmMasking, DeterministicGivenTheGeneratorState) {
  Tensor ids = make_ids(8, 64, 3);
  Generator a(42), b(42);
  auto m1 = lm::mask_tokens(ids, options(), a);
  auto m2 = lm::mask_tokens(ids, options(), b);
  EXPECT_EQ(m1.input_ids.to_vector<int64_t>(), m2.input_ids.to_vector<int64_t>());
  EXPECT_EQ(m1.labels.to_vector<int64_t>(), m2.labels.to_vector<int64_t>());
  EXPECT_EQ(a.offset(), static_cast<uint64_t>(8 * 64));  // one counter per position
  // The next call draws fresh masks; a generator restored to the saved state repeats them.
  auto m3 = lm::mask_tokens(ids, options(), a);
  EXPECT_NE(m3.labels.to_vector<int64_t>(), m1.labels.to_vector<int64_t>());
  Generator c(0);
  c.set_state(42, 8 * 64);
  EXPECT_EQ(lm::mask_tokens(ids, options(), c).labels.to_vector<int64_t>(), m3.labels.to_vector<int64_t>());
  // Another seed, other masks.
  Generator d(43);
  EXPECT_NE(lm::mask_tokens(ids, options(), d).labels.to_vector<int64_t>(), m1.labels.to_vector<int64_t>());
}

TEST(MlmMasking, BadOptionsAreErrors) {
  Tensor ids = make_ids(2, 8, 1);
  Generator g(0);
  lm::MlmOptions o = options();
  o.mask_id = kVocab;
  expect_error<Error>([&] { lm::mask_tokens(ids, o, g); }, "mask_id 1000");
  o = options();
  o.replace_mask = 0.95;
  expect_error<Error>([&] { lm::mask_tokens(ids, o, g); }, "sum to at most 1");
  o = options();
  o.mask_prob = 1.5;
  expect_error<Error>([&] { lm::mask_tokens(ids, o, g); }, "mask_prob");
  o = options();
  o.vocab_size = 500;  // ids go up to 999
  o.mask_id = 3;
  expect_error<Error>([&] { lm::mask_tokens(ids, o, g); }, "outside the vocabulary [0, 500)");
  expect_error<Error>([&] { lm::mask_tokens(zeros({2, 2}), options(), g); }, "int64");
}

// ---- pretraining with the masked-LM objective ----

fs::path shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

lm::PretrainOptions quiet(bool resume = false, int64_t stop_after = 0) {
  lm::PretrainOptions o;
  o.quiet = true;
  o.resume = resume;
  o.stop_after_steps = stop_after;
  return o;
}

class PretrainMlm : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::path input = shared_data() / "tinyshakespeare" / "input.txt";
    if (!fs::exists(input)) GTEST_SKIP() << input << " not found (set TESSERA_SHARED_DATA)";
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_mlm_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The first 60,000 characters (cut at a line end), one document per speech (blank lines).
    std::string text = slurp(input).substr(0, 60000);
    text = text.substr(0, text.rfind('\n') + 1);
    std::ofstream(dir_ / "shakespeare.txt") << text;
    prepare("data", {"[PAD]", "[CLS]", "[SEP]", "[MASK]"});
    prev_threads_ = get_num_threads();
  }
  void TearDown() override {
    set_num_threads(prev_threads_);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Char shards; the tokenizer's specials decide the separator ([SEP] without <|endoftext|>).
  void prepare(const std::string& name, std::vector<std::string> specials) {
    text::PrepareOptions o;
    o.inputs = {(dir_ / "shakespeare.txt").string()};
    o.out_dir = out(name);
    o.blank_line_docs = true;
    o.val_fraction = 0.1;
    o.verbose = false;
    text::prepare_shards(
        [specials](const std::vector<std::string_view>& docs) -> std::unique_ptr<text::Tokenizer> {
          return std::make_unique<text::CharTokenizer>(text::CharTokenizer::from_corpus(docs, specials));
        },
        o);
  }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  std::string data_dir() const { return out("data"); }

  static json recipe(int64_t steps) {
    json r = json::parse(R"({
      "objective": "mlm",
      "model": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                "max_position_embeddings": 64, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
      "optimizer": {"type": "adamw", "lr": 0.003, "weight_decay": 0.01, "betas": [0.9, 0.98]},
      "schedule": {"type": "cosine", "warmup_steps": 5, "min_lr": 0.0003},
      "train": {"batch_size": 16, "seq_len": 64, "clip_grad_norm": 1.0, "eval_every": 25, "eval_batches": 2,
                "log_every": 5, "seed": 5, "threads": 1, "checkpoint": {"keep_last": 2}}
    })");
    r["train"]["steps"] = steps;
    return r;
  }
  std::vector<json> metrics(const std::string& run) {
    std::vector<json> lines;
    std::ifstream in(fs::path(run) / "metrics.jsonl");
    std::string l;
    while (std::getline(in, l)) lines.push_back(json::parse(l));
    return lines;
  }
  fs::path dir_;
  int prev_threads_ = 1;
};

TEST_F(PretrainMlm, SeparatorIsSepForATokenizerWithoutEndOfText) {
  auto data = text::open_token_data(data_dir());
  auto tok = text::load_tokenizer(data.tokenizer_file);
  int32_t sep = *tok->special_id("[SEP]");
  json meta = json::parse(data.meta_json);
  EXPECT_TRUE(meta["tokenizer"]["eot_id"].is_null());
  EXPECT_EQ(meta["tokenizer"]["separator"]["token"], "[SEP]");
  EXPECT_EQ(meta["tokenizer"]["separator"]["id"], sep);
  // One [SEP] after every document of each split.
  int64_t seps = 0, docs = meta["splits"]["train"]["documents"];
  text::TokenShard shard((fs::path(data_dir()) / "train_000000.bin").string());
  for (int64_t i = 0; i < shard.size(); ++i) seps += shard.at(i) == sep;
  EXPECT_EQ(seps, docs);
  EXPECT_EQ(shard.at(shard.size() - 1), sep);
}

TEST_F(PretrainMlm, LossFallsAndTheCheckpointIsABertForMaskedLM) {
  auto res = lm::pretrain(recipe(50).dump(), data_dir(), out("run"), quiet());
  EXPECT_EQ(res.steps, 50);
  auto lines = metrics(out("run"));
  ASSERT_GE(lines.size(), 5u);
  auto data = text::open_token_data(data_dir());
  double first = lines.front().at("loss"), last = lines.back().at("loss");
  double uniform = std::log(static_cast<double>(data.vocab_size));
  EXPECT_GT(first, uniform - 0.5) << "the first loss should be near ln(vocab) = " << uniform;
  EXPECT_LT(last, first - 0.7) << "masked-LM loss did not fall clearly: " << first << " -> " << last;
  ASSERT_TRUE(res.val_loss.has_value());
  std::vector<double> vals;
  for (const auto& l : lines)
    if (l.contains("val_loss")) vals.push_back(l["val_loss"]);
  ASSERT_EQ(vals.size(), 2u);  // steps 25, 50
  EXPECT_LT(vals.back(), uniform - 0.7);  // measured: 4.20 -> 3.21
  EXPECT_GT(lines.back().at("mfu").get<double>(), 0);

  json s = json::parse(slurp(fs::path(out("run")) / "summary.json"));
  EXPECT_EQ(s["objective"], "mlm");
  EXPECT_EQ(s["tokens"], 50 * 16 * 64);
  EXPECT_EQ(s["model"]["model_type"], "bert");
  EXPECT_EQ(s["model"]["vocab_size"], data.vocab_size);  // taken from the shards

  fs::path ck = checkpoint::step_dir(out("run"), 50);
  json c = json::parse(slurp(ck / "config.json"));
  EXPECT_EQ(c["task"], "masked_language_model");
  EXPECT_EQ(c["architecture"], "bert");
  EXPECT_EQ(c["recipe"]["objective"], "mlm");
  EXPECT_DOUBLE_EQ(c["mlm"]["mask_prob"].get<double>(), 0.15);
  auto tok = text::load_tokenizer((ck / "tokenizer.json").string());
  EXPECT_EQ(c["model"]["pad_token_id"], *tok->special_id("[PAD]"));  // from the tokenizer
  // The weights load into a BertForMaskedLM built from the saved config (HF names).
  auto cfg = models::BertConfig::from_json(c["model"].dump());
  models::BertForMaskedLM fresh(cfg, 99);
  auto w = io::load_safetensors((ck / "model.safetensors").string());
  EXPECT_TRUE(w.tensors.count("bert.embeddings.word_embeddings.weight"));
  EXPECT_TRUE(w.tensors.count("cls.predictions.bias"));
  EXPECT_TRUE(w.tensors.count("bert.encoder.layer.1.output.LayerNorm.weight"));
  fresh.load_state_dict(w.tensors);
}

TEST_F(PretrainMlm, ResumeIsBitExact) {
  json r = recipe(16);
  r["model"]["hidden_dropout_prob"] = 0.1;  // the dropout stream must resume too
  r["model"]["attention_probs_dropout_prob"] = 0.1;
  r["train"]["grad_accum"] = 2;
  r["train"]["batch_size"] = 4;
  r["train"]["eval_every"] = 8;
  auto full = lm::pretrain(r.dump(), data_dir(), out("full"), quiet());
  auto part = lm::pretrain(r.dump(), data_dir(), out("split"), quiet(false, 7));
  EXPECT_EQ(part.stop_reason, "interrupted");
  json st = json::parse(slurp(fs::path(checkpoint::step_dir(out("split"), 7)) / "trainer_state.json"));
  EXPECT_GT(st["rng"]["masking"][1].get<uint64_t>(), 0u);  // the masking stream is saved
  auto rest = lm::pretrain(r.dump(), data_dir(), out("split"), quiet(true));
  EXPECT_EQ(rest.steps, 16);
  std::string a = slurp(fs::path(checkpoint::step_dir(out("full"), 16)) / "model.safetensors");
  std::string b = slurp(fs::path(checkpoint::step_dir(out("split"), 16)) / "model.safetensors");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "resumed weights differ from the uninterrupted run's";
  EXPECT_TRUE(slurp(fs::path(checkpoint::step_dir(out("full"), 16)) / "optimizer.bin") ==
              slurp(fs::path(checkpoint::step_dir(out("split"), 16)) / "optimizer.bin"))
      << "resumed AdamW state differs";
  ASSERT_TRUE(full.val_loss && rest.val_loss);
  EXPECT_DOUBLE_EQ(*full.val_loss, *rest.val_loss);
  // Validation masks are fixed: the val loss of a checkpoint does not depend on
  // when it is computed (steps 8 and 16 logged the same way in both runs).
  std::vector<double> va, vb;
  for (const auto& l : metrics(out("full")))
    if (l.contains("val_loss")) va.push_back(l["val_loss"]);
  for (const auto& l : metrics(out("split")))
    if (l.contains("val_loss")) vb.push_back(l["val_loss"]);
  EXPECT_EQ(va, vb);
  // A causal recipe cannot resume a masked-LM run.
  json causal = json::parse(R"({"model": {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16},
                                "train": {"steps": 20, "batch_size": 2, "threads": 1}})");
  expect_error<Error>([&] { lm::pretrain(causal.dump(), data_dir(), out("split"), quiet(true)); },
                      {"is not a language-model checkpoint", "masked_language_model"});
}

TEST_F(PretrainMlm, TokenizerWithoutMaskAndBadRecipesAreErrors) {
  prepare("gptdata", {"<|endoftext|>"});  // a GPT-style char tokenizer: no [CLS]/[SEP]/[MASK]/[PAD]
  std::string tok_file = (fs::path(out("gptdata")) / "tokenizer.json").string();
  expect_error<Error>([&] { lm::pretrain(recipe(2).dump(), out("gptdata"), out("x"), quiet()); },
                      {"--objective mlm", tok_file, "has no [CLS] token", "[MASK]"});
  json r = recipe(2);
  r["objective"] = "masked";
  expect_error<Error>([&] { lm::pretrain(r.dump(), data_dir(), out("x"), quiet()); },
                      "'objective' must be \"causal\" or \"mlm\"");
  r = recipe(2);
  r["model"]["hiden_size"] = 32;
  expect_error<Error>([&] { lm::pretrain(r.dump(), data_dir(), out("x"), quiet()); }, "model.hiden_size");
  r = recipe(2);
  r["mlm"] = {{"mask_prb", 0.2}};
  expect_error<Error>([&] { lm::pretrain(r.dump(), data_dir(), out("x"), quiet()); }, "mlm.mask_prb");
  r = recipe(2);
  r["train"]["seq_len"] = 128;
  expect_error<Error>([&] { lm::pretrain(r.dump(), data_dir(), out("x"), quiet()); },
                      "seq_len 128 exceeds model.max_position_embeddings 64");
  r = recipe(2);
  r["task"] = "language_model";
  expect_error<Error>([&] { lm::pretrain(r.dump(), data_dir(), out("x"), quiet()); }, "masked_language_model");
}

// `tessera pretrain --objective mlm` overrides a causal recipe's objective.
TEST_F(PretrainMlm, CliObjectiveFlag) {
  if (!fs::exists(test_util::tessera_binary())) GTEST_SKIP() << "tessera binary not built";
  json r = recipe(2);
  r.erase("objective");
  std::ofstream(dir_ / "recipe.json") << r.dump();
  std::string base = "pretrain -q --config " + (dir_ / "recipe.json").string() + " --data " + data_dir() + " --out ";
  auto [rc, err] = test_util::run_tessera(base + out("cli") + " --objective mlm");
  ASSERT_EQ(rc, 0) << err;
  json c = json::parse(slurp(fs::path(checkpoint::step_dir(out("cli"), 2)) / "config.json"));
  EXPECT_EQ(c["task"], "masked_language_model");
  // Without the flag the recipe is causal, and the BERT keys are not a GPT config.
  auto [rc2, err2] = test_util::run_tessera(base + out("cli2"));
  EXPECT_EQ(rc2, 1) << err2;
  auto [rc3, err3] = test_util::run_tessera(base + out("cli3") + " --objective bidirectional");
  EXPECT_NE(rc3, 0);
  EXPECT_NE(err3.find("objective"), std::string::npos) << err3;
}

}  // namespace
