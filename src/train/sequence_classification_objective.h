// The objective of `tessera finetune` (train/finetune.h): a
// SequenceClassifier on a GPT or BERT backbone, trained on labeled text.
// Batches are length-bucketed in an order drawn per epoch from one Philox
// stream; a checkpoint stores that stream's state at the start of the current
// epoch and the batches already served, so a resume rebuilds the same order
// and continues inside the epoch. The dev set is evaluated after every epoch;
// the best evaluation's classifier is written to <out>/model/ at once and is
// the one the run ends with (dev_report.json, merged/, summary.json).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "train/finetune_internal.h"
#include "tessera/core/stopwatch.h"
#include "tessera/metrics/report.h"
#include "tessera/train/finetune.h"
#include "tessera/train/objective.h"
#include "train/finetune_data.h"

namespace tessera::train {

struct SequenceClassificationSetup {
  FinetuneConfig config;
  std::string out_dir;
  detail::Backbone backbone;
  std::shared_ptr<models::SequenceClassifier> model;
  std::string pooling;
  std::vector<std::string> labels;
  EncodedExamples train, dev;
  int32_t pad_id = 0;
  nn::LoraOptions lora;
  std::vector<std::string> lora_layers;
};

class SequenceClassificationObjective : public Objective {
 public:
  explicit SequenceClassificationObjective(SequenceClassificationSetup setup);

  int64_t steps_per_epoch() const;
  int64_t trainable_parameters() const { return trainable_; }
  // The best dev evaluation (of the classifier in model/), once there is one.
  const std::optional<metrics::ClassificationReport>& best_report() const { return best_; }
  int64_t best_epoch() const { return best_epoch_; }

  nn::Module& module() override { return *s_.model; }
  MicroBatchLoss next_loss() override;
  int64_t epoch() const override { return epoch_; }
  bool can_evaluate() const override { return true; }
  EvalResult evaluate() override;
  std::string eval_split() const override { return "dev"; }
  bool report_step(const StepStats& s, bool train_line_due, const EvalResult* eval, RunLog& log) override;
  void announce(RunLog& log) override;
  void on_new_best(int64_t step, const EvalResult& eval) override;
  void finish(const RunSummary& run, RunLog& log) override;
  std::string summary_json(const RunSummary& run) const override;
  void save_files(const std::string& dir, int64_t step) override;
  std::string state_json() override;
  void load(const std::string& dir, const std::string& config_json, const std::string& state_json) override;

 private:
  void start_epoch();  // the next epoch's batch order
  metrics::ClassificationReport evaluate_dev();
  detail::ClassifierMeta meta() const;
  std::string model_dir() const;

  SequenceClassificationSetup s_;
  int64_t trainable_ = 0, total_ = 0;
  Generator order_gen_;
  uint64_t epoch_start_seed_ = 0, epoch_start_offset_ = 0;  // order_gen_ before this epoch's order was drawn
  std::vector<std::vector<size_t>> batches_;
  int64_t epoch_ = 0;
  size_t batch_ = 0;           // batches of epoch_ already served
  bool epoch_drawn_ = false;   // batches_ holds epoch_'s order
  Stopwatch epoch_time_;
  std::vector<double> epoch_seconds_;
  std::optional<metrics::ClassificationReport> last_, best_;
  int64_t best_epoch_ = 0;
  int64_t checkpoint_bytes_ = 0, merged_bytes_ = 0;
};

}  // namespace tessera::train
