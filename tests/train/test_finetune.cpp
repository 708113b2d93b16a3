// train::finetune in the one training loop: a run stopped after step k and
// resumed ends bit for bit as an uninterrupted one (full mode with dropout,
// LoRA with adapter dropout), and model/ ends as the best epoch's classifier
// by the dev metric, which summary.json names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "train_test_data.h"
#include "tessera/checkpoint/classifier.h"
#include "tessera/checkpoint/folders.h"
#include "tessera/core/parallel.h"
#include "tessera/lm/pretrain.h"
#include "tessera/train/finetune.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Short texts from the corpus' words; the label says whether "cat" is in the
// text, flipped for every fifth row (noise, so dev scores move between epochs).
void write_noisy_labeled(const fs::path& path, int n, uint32_t seed) {
  const char* words[] = {"the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "park", "sun", "is", "hot"};
  std::ofstream f(path);
  f << "text\tlabel\n";
  uint32_t x = seed;
  auto next = [&x] { return x = x * 1664525u + 1013904223u, (x >> 8) % 13; };
  for (int i = 0; i < n; ++i) {
    std::string text;
    bool cat = false;
    for (int k = 0; k < 4; ++k) {
      const char* w = words[next()];
      cat |= std::string(w) == "cat";
      if (k) text += ' ';
      text += w;
    }
    f << text << "\t" << ((cat != (i % 5 == 0)) ? "cat" : "dog") << "\n";
  }
}

std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  return out;
}

class Finetune : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("tessera_finetune_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    threads_ = get_num_threads();
    // A tiny GPT base (dropout 0.1, so the dropout streams matter) and labeled text.
    train_test::prepare_corpus(dir_ / "corpus", (dir_ / "shards").string());
    lm::PretrainOptions po;
    po.quiet = true;
    lm::pretrain(train_test::pretrain_recipe().dump(), (dir_ / "shards").string(), (dir_ / "base").string(), po);
    write_noisy_labeled(dir_ / "train.tsv", 40, 1);
    write_noisy_labeled(dir_ / "dev.tsv", 24, 2);
  }
  void TearDown() override {
    set_num_threads(threads_);
    fs::remove_all(dir_);
  }
  train::FinetuneConfig config() const {
    train::FinetuneConfig c;
    c.base = (dir_ / "base").string();
    c.train_file = (dir_ / "train.tsv").string();
    c.dev_file = (dir_ / "dev.tsv").string();
    c.max_len = 16, c.epochs = 3, c.batch_size = 8, c.lr = 3e-3, c.threads = 1, c.log_every = 1;
    c.head_dropout = 0.1;
    return c;
  }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }

  // Uninterrupted vs stopped after step 7 (inside epoch 2) and resumed.
  void expect_resume_is_exact(const train::FinetuneConfig& c) {
    auto full = train::finetune(c, out("full"), {.quiet = true});
    ASSERT_EQ(full.steps, 15);  // 40 examples / 8 per batch x 3 epochs
    auto part = train::finetune(c, out("split"), {.quiet = true, .stop_after_steps = 7});
    EXPECT_EQ(part.stop_reason, "interrupted");
    EXPECT_EQ(checkpoint::latest_step(out("split")), 7);
    auto rest = train::finetune(c, out("split"), {.quiet = true, .resume = true});
    EXPECT_EQ(rest.steps, 15);
    for (const char* f : {"classifier.safetensors", "optimizer.bin", "scheduler.bin"}) {
      std::string a = slurp(fs::path(checkpoint::step_dir(out("full"), 15)) / f);
      ASSERT_FALSE(a.empty()) << f;
      EXPECT_TRUE(a == slurp(fs::path(checkpoint::step_dir(out("split"), 15)) / f)) << f << " differs after resume";
    }
    EXPECT_TRUE(slurp(fs::path(out("full")) / "model" / "classifier.safetensors") ==
                slurp(fs::path(out("split")) / "model" / "classifier.safetensors"));
    EXPECT_EQ(full.dev_accuracy, rest.dev_accuracy);
    EXPECT_EQ(full.best_step, rest.best_step);
    // The resumed log reads as one run.
    std::vector<int64_t> a, b;
    for (const auto& l : read_jsonl(fs::path(out("full")) / "metrics.jsonl")) a.push_back(l["step"]);
    for (const auto& l : read_jsonl(fs::path(out("split")) / "metrics.jsonl")) b.push_back(l["step"]);
    EXPECT_EQ(a, b);
  }

  fs::path dir_;
  int threads_ = 1;
};

}  // namespace

TEST_F(Finetune, ResumeIsBitExactFullMode) {
  train::FinetuneConfig c = config();
  c.checkpoint_every = 2;
  expect_resume_is_exact(c);
}

TEST_F(Finetune, ResumeIsBitExactLoraWithAdapterDropout) {
  train::FinetuneConfig c = config();
  c.mode = "lora", c.lora_rank = 2, c.lora_dropout = 0.2, c.lr = 1e-2;
  c.checkpoint_every = 7;
  expect_resume_is_exact(c);
}

TEST_F(Finetune, ModelIsTheBestEpochsClassifier) {
  train::FinetuneConfig c = config();
  c.epochs = 4, c.lr = 0.3, c.keep_last = 4;  // an lr that overshoots: the last epoch is not the best
  c.best_metric = "loss";
  auto res = train::finetune(c, out("run"), {.quiet = true});
  // The best epoch by dev loss, from the log.
  int64_t best_epoch = 0, best_step = 0;
  double best_loss = 1e300;
  for (const auto& l : read_jsonl(fs::path(out("run")) / "metrics.jsonl")) {
    if (!l.contains("dev_loss")) continue;
    if (l["dev_loss"].get<double>() < best_loss)
      best_loss = l["dev_loss"], best_epoch = l["epoch"], best_step = l["step"];
  }
  ASSERT_GT(best_epoch, 0);
  ASSERT_LT(best_epoch, 4) << "pick a recipe whose best epoch is not the last";
  EXPECT_EQ(res.best_epoch, best_epoch);
  EXPECT_EQ(res.best_step, best_step);
  json s = json::parse(slurp(fs::path(out("run")) / "summary.json"));
  EXPECT_EQ(s["best_epoch"], best_epoch);
  EXPECT_EQ(s["best_step"], best_step);
  EXPECT_EQ(s["dev_loss"].get<double>(), best_loss);
  EXPECT_EQ(s["best_dev_loss"].get<double>(), best_loss);
  // model/ holds the weights of the best epoch's step folder, not the last one's.
  const std::string model = slurp(fs::path(out("run")) / "model" / "classifier.safetensors");
  EXPECT_TRUE(model == slurp(fs::path(checkpoint::step_dir(out("run"), best_step)) / "classifier.safetensors"));
  EXPECT_FALSE(model == slurp(fs::path(checkpoint::step_dir(out("run"), res.steps)) / "classifier.safetensors"));
  // Evaluating model/ reproduces the best epoch's dev report.
  json report = json::parse(slurp(fs::path(out("run")) / "dev_report.json"));
  EXPECT_EQ(report["accuracy"].get<double>(), s["dev_accuracy"].get<double>());
  auto clf = checkpoint::load_classifier(out("run"));
  std::vector<std::string> texts;
  std::vector<std::string> gold;
  std::ifstream dev(dir_ / "dev.tsv");
  std::string line;
  std::getline(dev, line);
  while (std::getline(dev, line)) {
    texts.push_back(line.substr(0, line.find('\t')));
    gold.push_back(line.substr(line.find('\t') + 1));
  }
  auto probs = train::predict_probabilities(clf, texts);
  int64_t right = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    size_t k = std::max_element(probs[i].begin(), probs[i].end()) - probs[i].begin();
    right += clf.labels[k] == gold[i];
  }
  EXPECT_DOUBLE_EQ(static_cast<double>(right) / static_cast<double>(texts.size()), s["dev_accuracy"].get<double>());
}

// merged/ folds the best epoch's adapters, not the last epoch's.
TEST_F(Finetune, MergedIsTheBestEpochMerged) {
  train::FinetuneConfig c = config();
  c.mode = "lora", c.lora_rank = 2, c.merge = true, c.epochs = 4, c.lr = 0.3, c.best_metric = "loss";
  auto res = train::finetune(c, out("run"), {.quiet = true});
  ASSERT_LT(res.best_epoch, 4) << "pick a recipe whose best epoch is not the last";
  auto best = checkpoint::load_classifier((fs::path(out("run")) / "model").string());
  auto merged = checkpoint::load_classifier((fs::path(out("run")) / "merged").string());
  const std::vector<std::string> texts = {"the cat sat on", "a dog ran to", "sun is hot", "cat park"};
  auto pa = train::predict_probabilities(best, texts), pb = train::predict_probabilities(merged, texts);
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t k = 0; k < pa[i].size(); ++k) EXPECT_NEAR(pa[i][k], pb[i][k], 1e-4) << texts[i];
}

TEST_F(Finetune, BadCheckpointSettingsAreErrors) {
  train::FinetuneConfig c = config();
  c.best_metric = "f1";
  test_util::expect_error<Error>([&] { train::finetune(c, out("x"), {.quiet = true}); },
                                 {"best_metric", "accuracy, macro_f1 or loss", "f1"});
  test_util::expect_error<Error>([] { train::FinetuneConfig::from_json(R"({"keep_lats": 2})"); },
                                 {"unknown key 'keep_lats'", "keep_last"});
  test_util::expect_error<Error>([] { train::FinetuneConfig::from_json(R"({"checkpoint_every": "2"})"); },
                                 {"'checkpoint_every' must be an integer"});
}

// "precision": "bf16" reaches the loop (summary.json says so), the config
// round-trips it, and a bad value names the key.
TEST_F(Finetune, Bf16PrecisionIsReadAndRecorded) {
  train::FinetuneConfig c = config();
  c.epochs = 1;
  c.precision = Precision::bf16;
  auto r = train::finetune(c, out("run"), {.quiet = true});
  EXPECT_EQ(r.stop_reason, "completed");
  EXPECT_EQ(json::parse(slurp(fs::path(out("run")) / "summary.json"))["precision"], "bf16");
  auto back = train::FinetuneConfig::from_json(c.to_json(), "recipe.json");
  EXPECT_EQ(back.precision, Precision::bf16);
  EXPECT_EQ(train::FinetuneConfig::from_json("{}").precision, Precision::fp32);
  tessera::test_util::expect_error<Error>(
      [] { train::FinetuneConfig::from_json(R"({"precision": "half"})", "recipe.json"); },
      {"precision", "unknown precision 'half'"});
}
