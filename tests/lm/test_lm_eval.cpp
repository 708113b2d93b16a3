// Held-out evaluation of pretraining checkpoints (lm/evaluate.h): the loss of
// evaluate_lm equals a direct computation (model forward + cross_entropy on
// the same windows, one window at a time), for non-overlapping windows with a
// partial last one, for a sliding stride, and for a masked-LM checkpoint;
// bad inputs are errors naming the file.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/parallel.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/evaluate.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/lm/mlm.h"
#include "tessera/lm/pretrain.h"
#include "tessera/models/bert.h"
#include "tessera/ops/loss.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"
#include "tessera/checkpoint/folders.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;
using tessera::test_util::expect_error;

namespace {

const char* kHeldOut =
    "the dog sat on the mat. a cat ran to the park. the sun is hot today. "
    "a dog ran to the mat. the cat is hot. the sun sat on the park today.";

class LmEval : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_lm_eval_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "corpus");
    const char* words[] = {"the cat sat on the mat. ", "a dog ran to the park. ", "the sun is hot today. "};
    for (int d = 0; d < 24; ++d) {
      std::string doc;
      for (int k = 0; k < 6; ++k) doc += words[(d + k) % 3];
      std::ofstream(dir_ / "corpus" / ("doc" + std::to_string(100 + d) + ".txt")) << doc;
    }
    std::ofstream(dir_ / "heldout.txt") << kHeldOut;
    prev_threads_ = get_num_threads();
  }
  void TearDown() override {
    set_num_threads(prev_threads_);
    fs::remove_all(dir_);
  }
  std::string p(const std::string& rel) const { return (dir_ / rel).string(); }

  void prepare(const std::string& name, std::vector<std::string> specials) {
    text::PrepareOptions o;
    o.inputs = {p("corpus")};
    o.out_dir = p(name);
    o.val_docs = 4;
    o.verbose = false;
    text::prepare_shards(
        [specials](const std::vector<std::string_view>& docs) -> std::unique_ptr<text::Tokenizer> {
          // Every character of the held-out text occurs in the corpus.
          return std::make_unique<text::CharTokenizer>(text::CharTokenizer::from_corpus(docs, specials));
        },
        o);
  }
  std::string train_gpt() {
    prepare("data", {"<|endoftext|>"});
    json r = json::parse(R"({
      "model": {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 32},
      "optimizer": {"type": "adamw", "lr": 0.01}, "schedule": {"type": "constant"},
      "train": {"steps": 8, "batch_size": 8, "eval_batches": 1, "threads": 1}})");
    lm::PretrainOptions o;
    o.quiet = true;
    lm::pretrain(r.dump(), p("data"), p("run"), o);
    return p("run");
  }

  // Direct: window k = ids[b, b + len) -> targets ids[b + 1, b + len + 1), the
  // first `skip` targets left out; one forward per window.
  static double direct_causal(models::GPT& m, const std::vector<int32_t>& ids, int64_t T, int64_t S, int64_t* count) {
    const int64_t n = static_cast<int64_t>(ids.size());
    m.eval();
    NoGradGuard ng;
    double sum = 0;
    *count = 0;
    int64_t scored_to = 0;
    for (int64_t b = 0;; b += S) {
      int64_t e = std::min(b + T, n - 1), len = e - b;
      std::vector<int64_t> x(ids.begin() + b, ids.begin() + e), y(ids.begin() + b + 1, ids.begin() + e + 1);
      Tensor logp = log_softmax_rows(m.forward(from_vector(x, {1, len})).reshape({len, m.config().vocab_size}));
      auto lp = logp.to_vector<double>();
      for (int64_t j = 0; j < len; ++j) {
        if (b + 1 + j <= scored_to) continue;  // scored by an earlier window
        sum -= lp[static_cast<size_t>(j * m.config().vocab_size + y[static_cast<size_t>(j)])];
        ++*count;
      }
      scored_to = e;
      if (e == n - 1) break;
    }
    return sum / static_cast<double>(*count);
  }
  static Tensor log_softmax_rows(const Tensor& logits) {
    // -cross_entropy with reduction none per class would do; compute log-softmax in double here.
    auto v = logits.to_vector<double>();
    int64_t R = logits.shape()[0], C = logits.shape()[1];
    std::vector<double> out(v.size());
    for (int64_t r = 0; r < R; ++r) {
      double mx = -1e300, s = 0;
      for (int64_t c = 0; c < C; ++c) mx = std::max(mx, v[static_cast<size_t>(r * C + c)]);
      for (int64_t c = 0; c < C; ++c) s += std::exp(v[static_cast<size_t>(r * C + c)] - mx);
      for (int64_t c = 0; c < C; ++c) out[static_cast<size_t>(r * C + c)] = v[static_cast<size_t>(r * C + c)] - mx - std::log(s);
    }
    return from_vector(out, {R, C});
  }

  fs::path dir_;
  int prev_threads_ = 1;
};

TEST_F(LmEval, CausalNonOverlappingWindowsMatchDirectComputation) {
  std::string run = train_gpt();
  auto g = checkpoint::load_gpt(run);
  auto ids = g.tokenizer->encode(kHeldOut, false);
  const int64_t n = static_cast<int64_t>(ids.size());
  ASSERT_NE((n - 1) % 16, 0) << "the test wants a partial last window";
  auto r = lm::evaluate_lm(run, p("heldout.txt"), 0, 3);  // seq_len = block_size 16, batches of 3
  int64_t count = 0;
  double want = direct_causal(*g.model, ids, 16, 16, &count);
  EXPECT_EQ(r.task, "language_model");
  EXPECT_EQ(r.tokens, n - 1);  // every id after the first, once
  EXPECT_EQ(count, n - 1);
  EXPECT_EQ(r.text_tokens, n);
  EXPECT_EQ(r.windows, (n - 1 + 15) / 16);
  EXPECT_EQ(r.seq_len, 16);
  EXPECT_EQ(r.stride, 16);
  EXPECT_NEAR(r.loss, want, 1e-5 * want);
  EXPECT_NEAR(r.perplexity, std::exp(want), 1e-5 * std::exp(want));
  EXPECT_LT(r.loss, std::log(static_cast<double>(g.tokenizer->vocab_size())));  // the model learned something
  // The batch size changes nothing but rounding.
  auto r1 = lm::evaluate_lm(run, p("heldout.txt"), 16, 1);
  EXPECT_NEAR(r1.loss, r.loss, 1e-5 * r.loss);
  json j = json::parse(r.json);
  EXPECT_EQ(j["tokens"], n - 1);
  EXPECT_DOUBLE_EQ(j["perplexity"].get<double>(), r.perplexity);
  EXPECT_NE(r.table.find("perplexity"), std::string::npos) << r.table;
}

TEST_F(LmEval, CausalSlidingStrideMatchesDirectComputation) {
  std::string run = train_gpt();
  auto g = checkpoint::load_gpt(run);
  auto ids = g.tokenizer->encode(kHeldOut, false);
  auto r = lm::evaluate_lm(run, p("heldout.txt"), 12, 4, 5);
  int64_t count = 0;
  double want = direct_causal(*g.model, ids, 12, 5, &count);
  EXPECT_EQ(r.tokens, static_cast<int64_t>(ids.size()) - 1);
  EXPECT_EQ(count, r.tokens);
  EXPECT_NEAR(r.loss, want, 1e-5 * want);
  // The overlap gives most targets more context: another result than non-overlapping windows.
  auto flat = lm::evaluate_lm(run, p("heldout.txt"), 12, 4);
  EXPECT_NE(flat.loss, r.loss);
}

TEST_F(LmEval, MaskedLmCheckpointMatchesDirectComputation) {
  prepare("mlmdata", {"[PAD]", "[CLS]", "[SEP]", "[MASK]"});
  json rec = json::parse(R"({"objective": "mlm",
      "model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                "max_position_embeddings": 32},
      "optimizer": {"type": "adamw", "lr": 0.003}, "schedule": {"type": "constant"},
      "train": {"steps": 3, "batch_size": 4, "seq_len": 24, "eval_batches": 1, "threads": 1}})");
  lm::PretrainOptions o;
  o.quiet = true;
  lm::pretrain(rec.dump(), p("mlmdata"), p("mlmrun"), o);
  auto r = lm::evaluate_lm(p("mlmrun"), p("heldout.txt"), 24, 3, 0, 7);
  EXPECT_EQ(r.task, "masked_language_model");
  auto again = lm::evaluate_lm(p("mlmrun"), p("heldout.txt"), 24, 2, 0, 7);
  EXPECT_EQ(r.tokens, again.tokens);
  EXPECT_NEAR(r.loss, again.loss, 1e-6 * r.loss);  // same masks at any batch size
  auto other = lm::evaluate_lm(p("mlmrun"), p("heldout.txt"), 24, 3, 0, 8);
  EXPECT_NE(other.loss, r.loss);

  // Direct: windows of 22 ids as [CLS] w [SEP], each masked alone from Generator(7), one forward each.
  fs::path ck = checkpoint::step_dir(p("mlmrun"), 3);
  json c = json::parse(std::ifstream(ck / "config.json"));
  models::BertForMaskedLM m(models::BertConfig::from_json(c["model"].dump()), 0);
  m.load_state_dict(io::load_safetensors((ck / "model.safetensors").string()).tensors);
  m.eval();
  auto tok = text::load_tokenizer((ck / "tokenizer.json").string());
  auto ids = tok->encode(kHeldOut, false);
  lm::MlmOptions mo;
  mo.mask_id = *tok->special_id("[MASK]");
  mo.pad_id = *tok->special_id("[PAD]");
  mo.vocab_size = tok->vocab_size();
  int64_t cls = *tok->special_id("[CLS]"), sep = *tok->special_id("[SEP]");
  mo.special_ids = {cls, sep, mo.pad_id, mo.mask_id};
  Generator gen(7);
  NoGradGuard ng;
  double sum = 0;
  int64_t count = 0;
  for (size_t b = 0; b < ids.size(); b += 22) {
    std::vector<int64_t> row{cls};
    for (size_t j = b; j < std::min(ids.size(), b + 22); ++j) row.push_back(ids[j]);
    row.push_back(sep);
    const int64_t L = static_cast<int64_t>(row.size());
    auto mb = lm::mask_tokens(from_vector(row, {1, L}), mo, gen);
    Tensor logits = m.forward(mb.input_ids, mb.attention_mask).reshape({L, m.config().vocab_size});
    sum += cross_entropy(logits, mb.labels.reshape({L}), Tensor(), -100, 0.0, "sum").item();
    count += mb.num_selected;
  }
  ASSERT_GT(count, 0);
  EXPECT_EQ(r.tokens, count);
  EXPECT_NEAR(r.loss, sum / static_cast<double>(count), 1e-5 * r.loss);
  EXPECT_NEAR(r.perplexity, std::exp(r.loss), 1e-9 * r.perplexity);
  json j = json::parse(r.json);
  EXPECT_TRUE(j.contains("mlm_loss"));
  EXPECT_TRUE(j.contains("exp_mlm_loss"));
  EXPECT_FALSE(j.contains("perplexity"));  // not a true perplexity: labelled as what it is
  expect_error<Error>([&] { lm::evaluate_lm(p("mlmrun"), p("heldout.txt"), 24, 3, 5); }, "stride");
}

TEST_F(LmEval, BadInputsAreErrors) {
  std::string run = train_gpt();
  std::ofstream(dir_ / "empty.txt");
  expect_error<Error>([&] { lm::evaluate_lm(run, p("empty.txt"), 0, 2); }, {"empty.txt", "is empty"});
  expect_error<Error>([&] { lm::evaluate_lm(run, p("nope.txt"), 0, 2); }, {"text file not found", "nope.txt"});
  expect_error<Error>([&] { lm::evaluate_lm(p("nothing"), p("heldout.txt"), 0, 2); }, "checkpoint not found");
  expect_error<Error>([&] { lm::evaluate_lm(run, p("heldout.txt"), 32, 2); }, "exceeds the model's block_size 16");
  expect_error<Error>([&] { lm::evaluate_lm(run, p("heldout.txt"), 8, 2, 9); }, "stride 9");
  std::ofstream(dir_ / "one.txt") << "a";
  expect_error<Error>([&] { lm::evaluate_lm(run, p("one.txt"), 0, 2); }, "at least 2");
  // A classifier's checkpoint (tessera train) is not a language model.
  fs::create_directories(dir_ / "clf");
  std::ofstream(dir_ / "clf" / "config.json") << R"({"format_version": 1, "task": "classification", "model": {"type": "mlp"}})";
  expect_error<Error>([&] { lm::evaluate_lm(p("clf"), p("heldout.txt"), 0, 2); },
                      {"\"classification\" checkpoint", "language_model"});
}

}  // namespace
