// Checkpoints written by an older build keep working: tests/fixtures/checkpoints_v1
// holds runs of `tessera train`, `tessera pretrain` and `tessera finetune` as
// the main of 2026-12-07 wrote them (before the one-loop restructuring), with
// what that build read back from them (make_v1_fixtures.sh). Through the CLI,
// as a user would: eval, generate, and --resume from an old step folder to
// the same weights the old build reached without interruption.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "tessera/io/safetensors.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kFixtures = fs::path(TESSERA_TESTS_DIR) / "fixtures" / "checkpoints_v1";

std::string F(const std::string& rel) { return (kFixtures / rel).string(); }

json read_json(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << "cannot read " << p;
  return json::parse(in);
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every number in `want` equals the one at the same place in `got` (within
// tol); strings and booleans equal exactly. Keys that name paths (checkpoint, tokenizer, text_file, data) are skipped.
void expect_same_numbers(const json& want, const json& got, double tol, const std::string& where = "") {
  if (want.is_number()) {
    ASSERT_TRUE(got.is_number()) << where << ": expected a number, got " << got.dump();
    EXPECT_NEAR(want.get<double>(), got.get<double>(), tol) << where;
  } else if (want.is_object()) {
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (it.key() == "checkpoint" || it.key() == "tokenizer" || it.key() == "text_file" || it.key() == "data") continue;
      ASSERT_TRUE(got.contains(it.key())) << where << "." << it.key() << " is missing";
      expect_same_numbers(it.value(), got[it.key()], tol, where + "." + it.key());
    }
  } else if (want.is_array()) {
    ASSERT_EQ(want.size(), got.size()) << where;
    for (size_t i = 0; i < want.size(); ++i) expect_same_numbers(want[i], got[i], tol, where + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(want, got) << where;
  }
}

// Every tensor of `got` equals `want`'s of the same name within tol. Resumes
// compare with 1e-4: the same build on the same CPU matches bit for bit, but
// the sanitizer build (-O1) or another CPU's kernels round differently by a
// few ulps per step; a wrong RNG or optimizer state is off by 1e-3 or more.
constexpr double kResumeTolerance = 1e-4;
void expect_same_weights(const fs::path& want, const fs::path& got, double tol) {
  auto a = tessera::io::load_safetensors(want.string());
  auto b = tessera::io::load_safetensors(got.string());
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name << " missing from " << got;
    auto x = t.contiguous().to_vector<float>();
    auto y = b.tensors.at(name).contiguous().to_vector<float>();
    ASSERT_EQ(x.size(), y.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(x[i] - y[i])));
    EXPECT_LE(worst, tol) << name << ": max |diff| " << worst;
  }
}

class OldCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(tessera::test_util::tessera_binary()))
      GTEST_SKIP() << "tessera binary not built at " << tessera::test_util::tessera_binary();
    ASSERT_TRUE(fs::exists(kFixtures / "train_run"))
        << "fixtures missing: " << kFixtures;
    tmp_ = fs::temp_directory_path() /
           ("tessera_old_ckpt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }
  // Runs tessera; fails the test with its output when the exit code is not 0.
  std::string ok(const std::string& args, const std::string& redirect = "2>&1 >/dev/null") {
    auto [rc, out] = tessera::test_util::run_tessera(args, redirect);
    EXPECT_EQ(rc, 0) << "tessera " << args << "\n" << out;
    return out;
  }
  // A run folder holding only step `step` of a fixture run: what --resume finds.
  fs::path run_from(const std::string& fixture_run, int step) {
    fs::path run = tmp_ / "run", ck = run / "checkpoints";
    fs::create_directories(ck);
    fs::copy(kFixtures / fixture_run / "checkpoints" / ("step-" + std::to_string(step)),
             ck / ("step-" + std::to_string(step)), fs::copy_options::recursive);
    return run;
  }
  std::string T(const std::string& rel) const { return (tmp_ / rel).string(); }
  fs::path tmp_;
};

TEST_F(OldCheckpoints, TrainRunEvaluatesAsBefore) {
  ok("eval --checkpoint " + F("train_run") + " --data " + F("iris.csv") + " --out " + T("eval"));
  expect_same_numbers(read_json(kFixtures / "train_eval" / "eval_report.json"), read_json(tmp_ / "eval" / "eval_report.json"),
                      1e-6);
}

TEST_F(OldCheckpoints, TrainResumesToTheSameWeights) {
  // Step 6 holds per-module RNG states under the old dotted names ("3.").
  fs::path run = run_from("train_run", 6);
  ok("train -q --config " + F("train_recipe.json") + " --data " + F("iris.csv") + " --out " + run.string() + " --resume");
  expect_same_weights(kFixtures / "train_run" / "checkpoints" / "step-12" / "model.safetensors",
                      run / "checkpoints" / "step-12" / "model.safetensors", kResumeTolerance);
  json want = read_json(kFixtures / "train_run" / "summary.json"), got = read_json(run / "summary.json");
  EXPECT_NEAR(want.at("test_accuracy").get<double>(), got.at("test_accuracy").get<double>(), 1e-9);
  EXPECT_NEAR(want.at("test_loss").get<double>(), got.at("test_loss").get<double>(), 1e-5);
}

TEST_F(OldCheckpoints, PretrainGeneratesAsBefore) {
  for (const auto& [file, flags] : {std::pair<std::string, std::string>{"pretrain_generate.json", "--temperature 0"},
                                   {"pretrain_sample.json", "--temperature 1 --seed 7"}}) {
    std::string out = ok("generate --checkpoint " + F("pretrain_run") + " --prompt 'to be' --max-new-tokens 8 " + flags +
                             " --no-stream --format json --threads 1",
                         "2>/dev/null");
    json want = json::parse(read_all(kFixtures / file)), got = json::parse(out);
    EXPECT_EQ(want.at("tokens"), got.at("tokens")) << file;
    EXPECT_EQ(want.at("text"), got.at("text")) << file;
  }
}

TEST_F(OldCheckpoints, PretrainEvaluatesAsBefore) {
  ok("eval --checkpoint " + F("pretrain_run") + " --data " + F("corpus/0.txt") + " --seq-len 16 --out " + T("eval"));
  expect_same_numbers(read_json(kFixtures / "pretrain_eval" / "eval_report.json"),
                      read_json(tmp_ / "eval" / "eval_report.json"), 1e-6);
}

TEST_F(OldCheckpoints, PretrainResumesToTheSameWeights) {
  fs::path run = run_from("pretrain_run", 3);
  ok("pretrain -q --config " + F("pretrain_recipe.json") + " --data " + F("shards") + " --out " + run.string() +
     " --resume");
  expect_same_weights(kFixtures / "pretrain_run" / "checkpoints" / "step-6" / "model.safetensors",
                      run / "checkpoints" / "step-6" / "model.safetensors", kResumeTolerance);
}

TEST_F(OldCheckpoints, FinetunedClassifiersPredictAsBefore) {
  // The LoRA checkpoint names its base by the absolute path it had when written: --base points at it here.
  for (const auto& [name, extra] : {std::pair<std::string, std::string>{"finetune_full", ""},
                                   {"finetune_lora", " --base " + F("pretrain_run")}}) {
    ok("eval --checkpoint " + F(name) + extra + " --data " + F("ft_dev.tsv") + " --predictions " + T(name + ".tsv") +
       " --out " + T(name));
    // Probabilities are printed with 6 decimals.
    std::istringstream want(read_all(kFixtures / (name + "_predictions.tsv"))), got(read_all(tmp_ / (name + ".tsv")));
    std::string a, b;
    int rows = 0;
    while (std::getline(want, a)) {
      ASSERT_TRUE(std::getline(got, b)) << name << ": fewer prediction rows";
      std::istringstream wa(a), gb(b);
      std::string x, y;
      while (std::getline(wa, x, '\t')) {
        ASSERT_TRUE(std::getline(gb, y, '\t')) << name << ": row '" << b << "'";
        char* end = nullptr;
        double vx = std::strtod(x.c_str(), &end);
        if (end && *end == '\0' && !x.empty() && x.find('.') != std::string::npos) {
          EXPECT_NEAR(vx, std::strtod(y.c_str(), nullptr), 2e-6) << name << ": '" << a << "' vs '" << b << "'";
        } else {
          EXPECT_EQ(x, y) << name;
        }
      }
      ++rows;
    }
    EXPECT_EQ(rows, 7) << name;  // header + 6 dev rows
    expect_same_numbers(read_json(kFixtures / (name + "_eval") / "eval_report.json"),
                        read_json(tmp_ / name / "eval_report.json"), 1e-6);
  }
}

}  // namespace
