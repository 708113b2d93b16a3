// checkpoint::inspect: every kind of folder a command may be pointed at (run,
// step and checkpoint folders of train / pretrain / finetune, Hugging Face
// folders) maps to the folder holding the weights, its format, task and step;
// everything else is an error naming the path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tessera/checkpoint/folders.h"
#include "tessera/checkpoint/inspect.h"
#include "tessera/core/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using checkpoint::Format;
using checkpoint::Layout;
using tessera::test_util::expect_error;

namespace {

class CheckpointInspect : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_inspect_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string p(const std::string& name) const { return (dir_ / name).string(); }

  static void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  // A step folder as the training loops write it (only config.json matters here).
  static std::string step(const std::string& run, int64_t n, const std::string& task) {
    std::string d = checkpoint::step_dir(run, n);
    write(fs::path(d) / "config.json", R"({"format_version": 1, "step": )" + std::to_string(n) + R"(, "task": ")" +
                                           task + R"(", "model": {}})");
    return d;
  }

  fs::path dir_;
};

TEST_F(CheckpointInspect, TrainRunFolderLoadsTheTestedStepElseTheNewest) {
  const std::string run = p("train");
  step(run, 4, "classification");
  const std::string s8 = step(run, 8, "classification");
  const std::string s12 = step(run, 12, "classification");
  auto f = checkpoint::inspect(run);
  EXPECT_EQ(f.layout, Layout::RunFolder);
  EXPECT_EQ(f.format, Format::TesseraTrainModel);
  EXPECT_EQ(f.dir, s12);
  EXPECT_EQ(f.step, 12);
  EXPECT_EQ(f.task, "classification");
  EXPECT_EQ(f.run_dir, run);
  // Early stopping tested step 8: the run folder means that one.
  write(fs::path(run) / "summary.json", R"({"tested_checkpoint_step": 8})");
  f = checkpoint::inspect(run);
  EXPECT_EQ(f.dir, s8);
  EXPECT_EQ(f.step, 8);
  // A tested step that was pruned since: the newest again.
  write(fs::path(run) / "summary.json", R"({"tested_checkpoint_step": 6})");
  EXPECT_EQ(checkpoint::inspect(run).dir, s12);
  // A summary that is not JSON changes nothing either.
  write(fs::path(run) / "summary.json", "{");
  EXPECT_EQ(checkpoint::inspect(run).dir, s12);
}

TEST_F(CheckpointInspect, StepFoldersAndPretrainRuns) {
  const std::string run = p("pretrain");
  step(run, 10, "language_model");
  const std::string s20 = step(run, 20, "language_model");
  auto f = checkpoint::inspect(s20);
  EXPECT_EQ(f.layout, Layout::StepFolder);
  EXPECT_EQ(f.format, Format::TesseraGPT);
  EXPECT_EQ(f.dir, s20);
  EXPECT_EQ(f.step, 20);
  EXPECT_EQ(f.run_dir, run);  // where a tokenizer may lie
  EXPECT_NE(f.config_json.find("\"step\": 20"), std::string::npos) << f.config_json;
  // A trailing slash names the same step folder.
  EXPECT_EQ(checkpoint::inspect(s20 + "/").run_dir, run);
  f = checkpoint::inspect(run);
  EXPECT_EQ(f.layout, Layout::RunFolder);
  EXPECT_EQ(f.dir, s20);

  const std::string mlm = p("mlm");
  step(mlm, 3, "masked_language_model");
  f = checkpoint::inspect(mlm);
  EXPECT_EQ(f.format, Format::TesseraMaskedLM);
  EXPECT_EQ(f.task, "masked_language_model");
  EXPECT_EQ(checkpoint::format_name(f.format), "tessera-mlm");
}

TEST_F(CheckpointInspect, FinetuneRunFolderReadsModel) {
  const std::string run = p("finetune");
  const std::string classifier = R"({"format_version": 1, "task": "sequence_classification", "mode": "full"})";
  write(fs::path(run) / "model" / "config.json", classifier);
  write(fs::path(run) / "merged" / "config.json", classifier);
  step(run, 5, "sequence_classification");  // checkpoints during the run do not hide model/
  auto f = checkpoint::inspect(run);
  EXPECT_EQ(f.layout, Layout::RunFolder);
  EXPECT_EQ(f.format, Format::TesseraClassifier);
  EXPECT_EQ(f.dir, (fs::path(run) / "model").string());
  EXPECT_EQ(f.step, -1);
  EXPECT_EQ(f.run_dir, "");
  f = checkpoint::inspect((fs::path(run) / "merged").string());
  EXPECT_EQ(f.layout, Layout::CheckpointFolder);
  EXPECT_EQ(f.format, Format::TesseraClassifier);
  EXPECT_EQ(f.dir, (fs::path(run) / "merged").string());
}

TEST_F(CheckpointInspect, TesseraCheckpointFolders) {
  // A GPT folder made by hand: no "task", a GPT "model" section.
  write(dir_ / "gpt" / "config.json", R"({"format_version": 1, "model": {"n_layer": 1}})");
  auto f = checkpoint::inspect(p("gpt"));
  EXPECT_EQ(f.layout, Layout::CheckpointFolder);
  EXPECT_EQ(f.format, Format::TesseraGPT);
  EXPECT_EQ(f.task, "language_model");
  EXPECT_EQ(f.step, -1);
  write(dir_ / "reg" / "config.json", R"({"format_version": 1, "task": "regression", "step": 7})");
  f = checkpoint::inspect(p("reg"));
  EXPECT_EQ(f.format, Format::TesseraTrainModel);
  EXPECT_EQ(f.step, 7);
}

TEST_F(CheckpointInspect, HuggingFaceFolders) {
  write(dir_ / "gpt2" / "config.json", R"({"model_type": "gpt2", "n_layer": 2})");
  auto f = checkpoint::inspect(p("gpt2"));
  EXPECT_EQ(f.format, Format::HfGPT2);
  EXPECT_EQ(f.layout, Layout::CheckpointFolder);
  EXPECT_EQ(f.task, "");
  EXPECT_EQ(checkpoint::format_name(f.format), "hf-gpt2");
  write(dir_ / "bert" / "config.json", R"({"model_type": "bert", "hidden_size": 32})");
  EXPECT_EQ(checkpoint::inspect(p("bert")).format, Format::HfBert);
  write(dir_ / "llama" / "config.json", R"({"model_type": "llama"})");
  expect_error<Error>([&] { checkpoint::inspect(p("llama")); }, {"llama", "not supported", "config.json"});
}

TEST_F(CheckpointInspect, ErrorsNameThePath) {
  expect_error<Error>([&] { checkpoint::inspect(p("nope")); }, {"checkpoint not found", "nope"});
  expect_error<Error>([&] { checkpoint::inspect(""); }, "checkpoint not found");
  // A folder with nothing recognisable in it.
  write(dir_ / "junk" / "notes.txt", "hello");
  fs::create_directories(dir_ / "junk" / "checkpoints" / ".tmp-step-3-1");  // a torn checkpoint is not one
  expect_error<Error>([&] { checkpoint::inspect(p("junk")); }, {"no checkpoint in", "junk", "step-N"});
  // A GGUF file: recognized by its name or its magic (validated when loaded).
  write(dir_ / "model-q8_0.gguf", "GGUF");
  auto g = checkpoint::inspect(p("model-q8_0.gguf"));
  EXPECT_EQ(g.format, Format::Gguf);
  EXPECT_EQ(g.layout, Layout::ModelFile);
  EXPECT_EQ(g.dir, p("model-q8_0.gguf"));
  EXPECT_EQ(checkpoint::format_name(g.format), "gguf");
  write(dir_ / "model.bin", "GGUF\x03");
  EXPECT_EQ(checkpoint::inspect(p("model.bin")).format, Format::Gguf);
  write(dir_ / "weights.bin", "x");
  expect_error<Error>([&] { checkpoint::inspect(p("weights.bin")); }, {"weights.bin", "not a checkpoint folder"});
  // config.json that is neither a Tessera checkpoint nor a Hugging Face folder.
  write(dir_ / "noversion" / "config.json", R"({"task": "language_model", "model": {}})");
  expect_error<Error>([&] { checkpoint::inspect(p("noversion")); },
                      {"noversion/config.json", "format_version", "model_type"});
  write(dir_ / "future" / "config.json", R"({"format_version": 2, "task": "language_model"})");
  expect_error<Error>([&] { checkpoint::inspect(p("future")); }, {"future/config.json", "format_version 2"});
  write(dir_ / "task" / "config.json", R"({"format_version": 1, "task": "seq2seq"})");
  expect_error<Error>([&] { checkpoint::inspect(p("task")); }, {"task/config.json", "seq2seq"});
  write(dir_ / "notask" / "config.json", R"({"format_version": 1, "step": 3})");
  expect_error<Error>([&] { checkpoint::inspect(p("notask")); }, {"notask/config.json", "\"task\"", "\"model\""});
  write(dir_ / "broken" / "config.json", R"({"format_version": 1,)");
  expect_error<Error>([&] { checkpoint::inspect(p("broken")); }, {"broken/config.json", "not valid JSON"});
  write(dir_ / "array" / "config.json", "[1, 2]");
  expect_error<Error>([&] { checkpoint::inspect(p("array")); }, {"array/config.json", "JSON object"});
  // A run folder whose newest step has a bad config: the error names that step.
  step(p("badrun"), 1, "language_model");
  write(fs::path(checkpoint::step_dir(p("badrun"), 2)) / "config.json", R"({"step": 2})");
  expect_error<Error>([&] { checkpoint::inspect(p("badrun")); }, {"step-2", "format_version"});
}

}  // namespace
