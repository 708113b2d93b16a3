// `tessera data prepare` + `tessera pretrain` end to end through the built
// binary (beside the tests folder of the build tree, or $TESSERA_CLI_BINARY):
// a char tokenizer fitted to a tiny corpus, a 4-step run, resume, and a
// corrupted shard giving one clear line and exit code 1.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_util.h"

namespace fs = std::filesystem;

namespace {

using tessera::test_util::tessera_binary;

struct Outcome {
  int rc = -1;
  std::string err;  // stderr (stdout discarded)
};

Outcome run(const std::string& args) {
  auto [rc, text] = tessera::test_util::run_tessera(args);
  return {rc, text};
}

class PretrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(tessera_binary())) GTEST_SKIP() << "tessera binary not built at " << tessera_binary();
    if (run("pretrain --help").rc != 0) GTEST_SKIP() << "this tessera binary has no pretrain command yet";
    dir_ = fs::temp_directory_path() / ("tessera_pretrain_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "corpus");
    for (int d = 0; d < 12; ++d) {
      std::string name = std::to_string(d);
      name += ".txt";  // (not "f" + ...: GCC 12 warns falsely on that, -Wrestrict)
      std::ofstream o(dir_ / "corpus" / name);
      for (int k = 0; k < 8; ++k) o << "to be or not to be, line " << (d + k) % 5 << ".\n";
    }
    std::ofstream(dir_ / "corpus" / "index.dat") << std::string("\0\1\2", 3);
    std::ofstream(dir_ / "recipe.json") << R"({"model": {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16},
      "optimizer": {"type": "adamw", "lr": 0.01}, "schedule": {"type": "cosine", "warmup_steps": 1},
      "train": {"steps": 4, "batch_size": 4, "eval_every": 2, "eval_batches": 1, "threads": 1}})";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string p(const std::string& rel) const { return (dir_ / rel).string(); }
  fs::path dir_;
};

TEST_F(PretrainCli, PrepareTrainResumeAndCorruption) {
  auto prep = run("data prepare --train-tokenizer char --input " + p("corpus") + " --val-docs 2 --out " + p("data"));
  ASSERT_EQ(prep.rc, 0) << prep.err;
  EXPECT_TRUE(fs::exists(dir_ / "data" / "meta.json"));
  EXPECT_TRUE(fs::exists(dir_ / "data" / "tokenizer.json"));

  auto both = run("data prepare --tokenizer x --train-tokenizer char --input " + p("corpus") + " --out " + p("d2"));
  EXPECT_EQ(both.rc, 2) << both.err;

  std::string base = "pretrain -q --config " + p("recipe.json") + " --data " + p("data") + " --out " + p("run");
  auto part = run(base + " --stop-after 2");
  ASSERT_EQ(part.rc, 0) << part.err;
  EXPECT_TRUE(fs::exists(dir_ / "run" / "checkpoints" / "step-2" / "tokenizer.json"));
  auto rest = run(base + " --resume");
  ASSERT_EQ(rest.rc, 0) << rest.err;
  EXPECT_TRUE(fs::exists(dir_ / "run" / "summary.json"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "checkpoints" / "step-4" / "model.safetensors"));

  // A truncated shard: one line naming the file and the field, exit code 1.
  fs::path shard = dir_ / "data" / "train_000000.bin";
  fs::resize_file(shard, fs::file_size(shard) - 1);
  auto bad = run("pretrain -q --config " + p("recipe.json") + " --data " + p("data") + " --out " + p("run2"));
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("train_000000.bin: file size"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

}  // namespace
