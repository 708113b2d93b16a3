// Checkpoints written before the one training loop (commit 94e439b, see
// fixtures/gen_fixtures.cpp) still resume and load: a `tessera train` run and
// a `tessera pretrain` run interrupted then, resumed now, end with the
// weights of the uninterrupted run of then; a fine-tuned classifier of then
// predicts what it predicted then.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "compat_data.h"
#include "tessera/checkpoint/folders.h"
#include "tessera/core/parallel.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/pretrain.h"
#include "tessera/train/finetune.h"
#include "tessera/train/trainer.h"

using namespace tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kFixtures = fs::path(TESSERA_TESTS_DIR) / "train" / "fixtures" / "main-94e439b";

class OldCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_old_ckpt_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    threads_ = get_num_threads();
    set_num_threads(1);
  }
  void TearDown() override {
    set_num_threads(threads_);
    fs::remove_all(dir_);
  }
  // A writable copy of a fixture run folder.
  std::string copy_run(const std::string& kind) {
    fs::path to = dir_ / kind;
    fs::copy(kFixtures / kind / "run", to, fs::copy_options::recursive);
    return to.string();
  }
  // Every tensor of `file` equals the fixture's (up to float rounding of another CPU).
  static void expect_same_weights(const std::string& file, const fs::path& expected) {
    auto got = io::load_safetensors(file).tensors;
    auto want = io::load_safetensors(expected.string()).tensors;
    ASSERT_EQ(got.size(), want.size());
    for (auto& [name, w] : want) {
      ASSERT_TRUE(got.count(name)) << name;
      auto a = got.at(name).to_vector<float>(), b = w.to_vector<float>();
      ASSERT_EQ(a.size(), b.size()) << name;
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << name << "[" << i << "]";
    }
  }
  fs::path dir_;
  int threads_ = 1;
};

}  // namespace

TEST_F(OldCheckpoints, TrainRunResumes) {
  const std::string run = copy_run("train");
  train::Trainer t(compat::train_recipe().dump(), compat::train_data(), run, {.resume = true, .quiet = true});
  auto res = t.run();
  EXPECT_EQ(res.steps, 12);
  expect_same_weights(checkpoint::step_dir(run, 12) + "/model.safetensors", kFixtures / "train" / "final_model.safetensors");
  // The old log lines up to step 6 were kept, the rest appended: each step once.
  int64_t train_lines = 0;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  for (std::string l; std::getline(in, l);) train_lines += json::parse(l)["type"] == "train";
  EXPECT_EQ(train_lines, 12);
}

TEST_F(OldCheckpoints, PretrainRunResumes) {
  const std::string shards = (dir_ / "shards").string();
  compat::prepare_corpus(dir_ / "corpus", shards);
  const std::string run = copy_run("pretrain");
  lm::PretrainOptions o;
  o.quiet = true;
  o.resume = true;
  auto res = lm::pretrain(compat::pretrain_recipe().dump(), shards, run, o);
  EXPECT_EQ(res.steps, 10);
  expect_same_weights(checkpoint::step_dir(run, 10) + "/model.safetensors",
                      kFixtures / "pretrain" / "final_model.safetensors");
}

TEST_F(OldCheckpoints, FinetunedClassifierLoads) {
  auto c = train::load_classifier((kFixtures / "finetune" / "model").string());
  auto got = train::predict_probabilities(c, {"the cat sat", "a dog ran to the park"});
  json want = json::parse(std::ifstream(kFixtures / "finetune" / "expected_probabilities.json"));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    for (size_t k = 0; k < got[i].size(); ++k) EXPECT_NEAR(got[i][k], want[i][k].get<double>(), 1e-5);
}
