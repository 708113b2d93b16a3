// The loaders beside checkpoint::inspect on hand-built folders: a masked-LM
// checkpoint as a fine-tuning base (its encoder, its WordPiece tokenizer from
// the step or the run folder, the fingerprint of its weights), and loaders
// given a folder of another kind say which kind it is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tessera/checkpoint/backbone.h"
#include "tessera/checkpoint/classifier.h"
#include "tessera/checkpoint/folders.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/checkpoint/train_model.h"
#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"
#include "tessera/text/wordpiece.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using tessera::test_util::expect_error;

namespace {

class CheckpointLoaders : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_loaders_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    bc_.vocab_size = 12;
    bc_.hidden_size = 16;
    bc_.num_hidden_layers = 1;
    bc_.num_attention_heads = 2;
    bc_.intermediate_size = 32;
    bc_.max_position_embeddings = 16;
    bc_.pad_token_id = 0;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A WordPiece vocabulary of `n` tokens saved as tokenizer.json in `folder`.
  static void write_wordpiece(const fs::path& folder, int n) {
    fs::create_directories(folder);
    fs::path vocab = folder / "vocab.txt";
    {
      std::ofstream v(vocab);
      v << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
      for (int i = 5; i < n; ++i) v << "w" << i << "\n";
    }
    text::WordPieceTokenizer::from_folder(folder.string())->save((folder / "tokenizer.json").string());
    fs::remove(vocab);
  }

  // <run>/checkpoints/step-3 as `tessera pretrain --objective mlm` writes it (model, config).
  std::string write_mlm_run(const std::string& name, const models::BertForMaskedLM& m) {
    fs::path run = dir_ / name, step = checkpoint::step_dir(run.string(), 3);
    fs::create_directories(step);
    io::save_safetensors((step / "model.safetensors").string(), m.state_dict());
    std::ofstream(step / "config.json") << R"({"format_version": 1, "step": 3, "task": "masked_language_model", "model": )"
                                        << bc_.to_json() << "}";
    return run.string();
  }

  fs::path dir_;
  models::BertConfig bc_;
};

TEST_F(CheckpointLoaders, MaskedLmRunIsABertBase) {
  models::BertForMaskedLM saved(bc_, 5);
  const std::string run = write_mlm_run("mlm", saved);
  // No tokenizer anywhere yet.
  expect_error<Error>([&] { checkpoint::load_backbone(run, "", false, 1); }, {"no tokenizer", "step-3"});
  // The run folder's tokenizer serves its checkpoints.
  write_wordpiece(run, 12);
  auto b = checkpoint::load_backbone(run, "", false, 1);
  EXPECT_EQ(b.kind, "bert");
  EXPECT_EQ(b.base_format, "tessera-mlm");
  EXPECT_EQ(b.base, fs::absolute(checkpoint::step_dir(run, 3)).lexically_normal().string());
  EXPECT_EQ(b.tokenizer->kind(), "wordpiece");
  EXPECT_EQ(b.fingerprint, checkpoint::fingerprint_weights(*saved.bert));
  EXPECT_EQ(models::BertConfig::from_json(b.arch_json), bc_);
  // From scratch: the same architecture, other weights, no base recorded.
  auto s = checkpoint::load_backbone(run, "", true, 1);
  EXPECT_EQ(s.base_format, "scratch");
  EXPECT_EQ(s.base, "");
  EXPECT_NE(s.fingerprint, b.fingerprint);
  EXPECT_EQ(s.bert->config(), bc_);
  // A vocabulary of another size is refused with both sizes.
  write_wordpiece(dir_ / "small", 9);
  expect_error<Error>([&] { checkpoint::load_backbone(run, (dir_ / "small" / "tokenizer.json").string(), false, 1); },
                      {"vocab does not match", "9", "12"});
  // The masked-LM loader: the weights as saved.
  auto m = checkpoint::load_masked_lm(checkpoint::inspect(run));
  EXPECT_EQ(m.step, 3);
  EXPECT_EQ(m.tokenizer_path, (fs::path(run) / "tokenizer.json").string());
  EXPECT_EQ(checkpoint::fingerprint_weights(*m.model), checkpoint::fingerprint_weights(saved));
}

TEST_F(CheckpointLoaders, ALoaderNamesTheKindItWasGiven) {
  models::BertForMaskedLM saved(bc_, 5);
  const std::string run = write_mlm_run("mlm", saved);
  write_wordpiece(run, 12);
  expect_error<Error>([&] { checkpoint::load_gpt(run); }, {"step-3", "masked-LM checkpoint", "not a GPT"});
  expect_error<Error>([&] { checkpoint::load_train_model(run); }, {"masked-LM", "not a `tessera train` checkpoint"});
  expect_error<Error>([&] { checkpoint::load_classifier(run); }, {"step-3", "not a classifier checkpoint"});

  fs::create_directories(dir_ / "ft" / "model");
  std::ofstream(dir_ / "ft" / "model" / "config.json") << R"({"format_version": 1, "task": "sequence_classification"})";
  expect_error<Error>([&] { checkpoint::load_backbone((dir_ / "ft").string(), "", false, 1); },
                      "already a fine-tuned classifier");
  fs::create_directories(dir_ / "tr");
  std::ofstream(dir_ / "tr" / "config.json") << R"({"format_version": 1, "task": "regression"})";
  expect_error<Error>([&] { checkpoint::load_backbone((dir_ / "tr").string(), "", false, 1); },
                      {"tessera train", "regression", "GPT or BERT"});
  expect_error<Error>([&] { checkpoint::load_masked_lm(checkpoint::inspect((dir_ / "tr").string())); },
                      "not a masked-LM checkpoint");
}

}  // namespace
