// The objectives of `tessera train`: a model from models/factory.h over a
// data::Dataset (train/trainer.h's recipe). DatasetObjective holds what
// classification and regression share: batches from a seeded DataLoader
// whose (epoch, batch) position is checkpointed, evaluation on the
// validation split, the final evaluation on the test split (with the best
// weights when early stopping picked them), and the checkpoint files that
// checkpoint/inspect.h describes (tessera train). The two tasks differ in their loss
// (classification.cpp, regression.cpp).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/data/dataset.h"
#include "tessera/train/objective.h"
#include "tessera/train/trainer.h"
#include "train/recipe.h"

namespace tessera::train {

class DatasetObjective : public Objective {
 public:
  // Seeds the default generator with the recipe's seed, then builds the model
  // (same seed, same initial weights and dropout streams).
  DatasetObjective(const Recipe& recipe, TrainData data, std::string out_dir, int64_t num_outputs);

  int64_t batches_per_epoch() const { return loader_->batches_per_epoch(); }
  // The test_* (or validation_*) metrics of finish(); empty before.
  const std::vector<std::pair<std::string, double>>& final_metrics() const { return final_metrics_; }

  nn::Module& module() override { return *model_; }
  MicroBatchLoss next_loss() override;
  int64_t epoch() const override { return loader_->position().epoch; }
  bool can_evaluate() const override { return data_.validation != nullptr; }
  EvalResult evaluate() override;
  bool report_step(const StepStats& s, bool train_line_due, const EvalResult* eval, RunLog& log) override;
  void finish(const RunSummary& run, RunLog& log) override;
  std::string summary_json(const RunSummary& run) const override;
  void save_files(const std::string& dir, int64_t step) override;
  std::string state_json() override;
  void load(const std::string& dir, const std::string& config_json, const std::string& state_json) override;

 protected:
  // The mean loss of model outputs y against the batch targets.
  virtual Tensor loss(const Tensor& y, const Tensor& targets) const = 0;
  virtual bool classification() const = 0;

 private:
  Recipe recipe_;
  TrainData data_;
  std::string out_;
  Shape example_shape_;
  int64_t num_outputs_ = 0;
  std::shared_ptr<nn::Module> model_;
  std::unique_ptr<data::DataLoader> loader_;
  std::vector<std::pair<std::string, double>> final_metrics_;
  int64_t tested_step_ = -1;
};

// recipe.task "classification" | "regression".
std::unique_ptr<DatasetObjective> make_classification_objective(const Recipe& recipe, TrainData data,
                                                                 std::string out_dir);
std::unique_ptr<DatasetObjective> make_regression_objective(const Recipe& recipe, TrainData data,
                                                             std::string out_dir);

}  // namespace tessera::train
