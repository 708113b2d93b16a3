// Evaluation reports: everything an evaluation prints and writes. A
// ClassificationReport is sklearn's classification_report (same table layout)
// plus overall accuracy, top-k accuracies, the mean loss and the confusion
// matrix; a RegressionReport holds MSE, MAE and R^2. Both print a fixed-width
// table, serialize to JSON and flatten to named scalars ("macro_f1",
// "top5_accuracy", ...) for metrics logs and early stopping.
//
// ClassificationEvaluator accumulates batches of scores (logits or
// probabilities) and targets, so evaluation keeps only counts, not every
// prediction.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"
#include "tessera/metrics/classification.h"
#include "tessera/metrics/regression.h"

namespace tessera::metrics {

struct ReportOptions {
  // labels (empty: present classes, as sklearn), zero_division and beta;
  // pos_label is unused (reports show every averaging but binary).
  ClassificationOptions scoring;
  std::vector<std::string> class_names;  // indexed by class id; empty: the ids
  int digits = 4;                        // decimals in the table (sklearn's default is 2)
};

struct ClassificationReport {
  int64_t num_samples = 0;
  double accuracy = 0;  // over all samples, whatever `labels` selects
  // sklearn prints an "accuracy" row in place of "micro avg" when the labels
  // cover every present class (the two are then equal).
  bool micro_is_accuracy = true;
  double beta = 1;
  ZeroDivision zero_division = ZeroDivision::Zero;
  PerClassScores per_class;
  std::vector<std::string> names;  // (L,) one per per_class label
  AveragedScores micro, macro, weighted;
  std::vector<std::pair<int64_t, double>> top_k;  // (k, accuracy), ascending k
  std::optional<double> loss;                     // mean loss per sample, when known
  ConfusionMatrix confusion;                      // over the report's labels
  int digits = 4;

  // sklearn's classification_report text, then rows for top-k accuracy, loss
  // and (when labels select a subset) overall accuracy.
  std::string to_table() const;
  std::string to_json(int indent = 2) const;
  // accuracy, {micro,macro,weighted}_{precision,recall,f1}, topK_accuracy, loss.
  std::vector<std::pair<std::string, double>> scalars() const;
};

ClassificationReport classification_report(const ConfusionCounts& counts, const ReportOptions& opts = {});
ClassificationReport classification_report(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                           int64_t num_classes, const ReportOptions& opts = {});

struct RegressionReport {
  int64_t num_samples = 0;
  double mse = 0, mae = 0, r2 = 0;
  std::optional<double> loss;
  int digits = 6;

  std::string to_table() const;
  std::string to_json(int indent = 2) const;
  std::vector<std::pair<std::string, double>> scalars() const;  // mse, rmse, mae, r2, loss
};

RegressionReport regression_report(std::span<const double> y_true, std::span<const double> y_pred);

// Streams an evaluation: add() takes scores (B, C) and targets (B,), predicts
// the argmax (ties to the lower id) and counts top-k hits for each k asked.
class ClassificationEvaluator {
 public:
  explicit ClassificationEvaluator(int64_t num_classes, std::vector<int64_t> top_k = {});

  void add(const Tensor& scores, const Tensor& y_true);
  // `mean_loss` is a batch's mean loss over `batch_size` samples.
  void add_loss(double mean_loss, int64_t batch_size);

  const ConfusionCounts& counts() const { return counts_; }
  ClassificationReport report(const ReportOptions& opts = {}) const;

 private:
  ConfusionCounts counts_;
  std::vector<int64_t> ks_, hits_;
  double loss_sum_ = 0;
  int64_t loss_count_ = 0;
};

}  // namespace tessera::metrics
