// What the two pretraining objectives of lm/pretrain.h share, as a
// train::Objective: random windows from the train shards (a Philox sampler
// stream kept apart from the model's), the validation loss over fixed
// windows, tokens/s and MFU in the logs, and the checkpoint folder (weights,
// config.json with the model section, the tokenizer, the data it was trained
// on). Causal (causal_objective.cpp) and masked (masked_objective.cpp)
// language modeling differ in the model and in how windows become a loss.
#pragma once
#include "tessera/dist/world.h"
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "lm/pretrain_recipe.h"
#include "tessera/core/random.h"
#include "tessera/text/shards.h"
#include "tessera/train/objective.h"

namespace tessera::lm {

class LanguageModelObjective : public train::Objective {
 public:
  // Checks that the shards hold a window, drops a validation split too small
  // for one, and reads the tokenizer to copy into checkpoints. Call once the
  // derived model exists.
  void prepare(const std::string& tokenizer_file);

  double train_loss() const { return train_loss_; }           // mean over the last train line's window
  const std::optional<double>& val_loss() const { return val_loss_; }  // the last evaluation's

  train::MicroBatchLoss next_loss() override;
  train::ProgressStyle progress_style() const override;
  bool can_evaluate() const override { return !data_.val.empty(); }
  train::EvalResult evaluate() override;
  std::string eval_split() const override { return "val"; }
  bool report_step(const train::StepStats& s, bool train_line_due, const train::EvalResult* eval,
                   train::RunLog& log) override;
  void announce(train::RunLog& log) override;
  std::string summary_json(const train::RunSummary& run) const override;
  void save_files(const std::string& dir, int64_t step) override;
  std::string state_json() override;
  void load(const std::string& dir, const std::string& config_json, const std::string& state_json) override;

 protected:
  LanguageModelObjective(const PretrainRecipe& recipe, text::TokenData data);

  // ---- what differs ----
  virtual Generator& dropout_generator() = 0;
  virtual const char* label() const = 0;          // "GPT" | "BERT" (messages)
  virtual std::string task() const = 0;           // config.json "task"
  virtual nlohmann::json model_json() const = 0;  // the "model" section of config.json and summary.json
  virtual void describe(nlohmann::json& /*config*/) const {}  // further config.json keys
  // Shard windows of window() + 1 tokens feed one example; positions() is
  // what the model sees per example (the tokens counted in tokens/s).
  virtual int64_t window() const = 0;
  virtual int64_t positions() const = 0;
  // Mean loss of one batch of windows (graph attached in training mode).
  virtual Tensor batch_loss(const text::TokenBatch& b, bool training) = 0;
  // This rank's rows [r.begin, r.end) of the global training batch b (data
  // parallel), with their share of the loss: rows / B by default (every row
  // holds the same number of predicted tokens); an objective whose loss
  // counts a varying number of positions overrides it.
  virtual train::MicroBatchLoss shard_loss(const text::TokenBatch& b, dist::Range r);
  virtual void begin_validation() {}
  // Extra random streams (trainer_state.json "rng").
  virtual void save_rng(nlohmann::json& /*rng*/) const {}
  virtual void load_rng(const nlohmann::json& /*rng*/) {}
  virtual int64_t count_parameters(bool non_embedding) const = 0;
  virtual double flops_per_token() const = 0;

  PretrainRecipe recipe_;
  text::TokenData data_;

 private:
  Generator sampler_;
  std::string tokenizer_bytes_;
  // MFU's denominator: the recipe's train.peak_flops, else the measured peak
  // of this machine (core/machine_peak.h) for the precision and thread count.
  std::string precision_;
  double peak_flops_ = 0;
  std::string peak_source_;  // "recipe" | "measured" | "cached measurement"
  double train_loss_ = 0;
  std::optional<double> val_loss_;
};

// The objectives (each checks its model section against the shards' vocabulary).
std::unique_ptr<LanguageModelObjective> make_causal_objective(const PretrainRecipe& recipe, text::TokenData data,
                                                              const nlohmann::json& model_section);
std::unique_ptr<LanguageModelObjective> make_masked_objective(const PretrainRecipe& recipe, text::TokenData data,
                                                              const nlohmann::json& model_section,
                                                              const std::string& tokenizer_file);

}  // namespace tessera::lm
