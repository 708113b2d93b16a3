// Classification metrics with scikit-learn's definitions (version 1.2, the one
// Debian 12 ships): accuracy, top-k accuracy, confusion matrix and per-class /
// averaged precision, recall and F-beta, all computed in double.
//
// Everything derives from ConfusionCounts, a (true, predicted) pair count over
// class ids 0..C-1, so an evaluation loop can add batches without keeping
// every prediction; the span overloads build one for a single call.
//
// Label sets follow sklearn's `labels=` argument: by default the metrics cover
// the sorted ids that occur in y_true or y_pred (sklearn's unique_labels);
// pass `labels` to choose and order the classes (all_classes(C) for every
// class, as a trainer usually wants). Counts for a chosen class still see
// every sample, so a prediction of class 3 lowers class 3's precision even
// when the true class is not in `labels` (as in sklearn).
//
// Errors: tessera::ShapeError for length / shape mismatches, IndexError for a
// class id outside [0, C), Error for empty inputs and bad options; each
// message names the function and the sizes or id involved.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::metrics {

// sklearn's `average=`; per-class scores (average=None) are a separate call.
enum class Average { Binary, Micro, Macro, Weighted };
const char* average_name(Average a);  // "binary", "micro", ...

// sklearn's `zero_division=`: the value of a 0/0 precision, recall or F.
// sklearn's default "warn" behaves as Zero (we never warn).
enum class ZeroDivision { Zero, One };

// sklearn's confusion_matrix(normalize=...): divide by row (true), column
// (pred) or total sums; a zero sum gives 0.
enum class Normalize { None, True, Pred, All };

struct ClassificationOptions {
  std::vector<int64_t> labels;  // empty: sorted ids present in y_true or y_pred
  ZeroDivision zero_division = ZeroDivision::Zero;
  double beta = 1.0;            // F-beta; 1 = F1
  int64_t pos_label = 1;        // Average::Binary only (then `labels` is ignored, as in sklearn)
};

// 0, 1, ..., num_classes - 1: the `labels` that cover every class.
std::vector<int64_t> all_classes(int64_t num_classes);

// Checks a 1-D integer tensor of class ids and copies it out (argmax output,
// targets). `what` names the argument in the error.
std::vector<int64_t> class_ids(const Tensor& t, const char* what = "class ids");

// Running count of (true, predicted) class pairs over ids 0..C-1.
class ConfusionCounts {
 public:
  explicit ConfusionCounts(int64_t num_classes);

  // Adds one batch. Both must have the same length and ids in [0, C); nothing
  // is added when a check fails.
  void add(std::span<const int64_t> y_true, std::span<const int64_t> y_pred);
  void add(const Tensor& y_true, const Tensor& y_pred);  // 1-D integer tensors

  int64_t num_classes() const { return c_; }
  int64_t total() const { return total_; }      // samples added
  int64_t correct() const { return correct_; }  // samples with pred == true
  int64_t count(int64_t true_class, int64_t pred_class) const;
  int64_t true_count(int64_t c) const;  // support: samples whose true class is c
  int64_t pred_count(int64_t c) const;  // samples predicted as c
  // Sorted ids with a nonzero true or predicted count (sklearn's unique_labels).
  std::vector<int64_t> present_labels() const;

 private:
  void check_class(int64_t c, const char* what) const;
  int64_t c_;
  int64_t total_ = 0, correct_ = 0;
  std::vector<int64_t> counts_;  // (C, C), row = true class, col = predicted
  std::vector<int64_t> true_sum_, pred_sum_;  // (C,)
};

// Fraction of samples with pred == true (sklearn accuracy_score). Ids need
// not be bounded here; the inputs must have the same, nonzero length.
double accuracy(std::span<const int64_t> y_true, std::span<const int64_t> y_pred);
double accuracy(const ConfusionCounts& counts);

// Top-k accuracy from scores (N, C) (logits or probabilities, any floating
// dtype; column j scores class j): a sample is a hit when fewer than k classes
// rank above its true class. Ranking is by score, ties broken toward the lower
// class id (as argmax), so top-1 accuracy equals accuracy of the argmax; sklearn
// breaks ties toward the higher id, so the two differ only on exactly tied
// scores. k >= C gives 1. NaN scores are an Error.
int64_t top_k_hits(std::span<const int64_t> y_true, const Tensor& scores, int64_t k);
double top_k_accuracy(std::span<const int64_t> y_true, const Tensor& scores, int64_t k);

// sklearn's confusion_matrix over `labels` (empty: present labels): (L, L)
// counts, row = true class, column = predicted. Samples whose true or
// predicted class is not in `labels` are left out.
struct ConfusionMatrix {
  std::vector<int64_t> labels;   // (L,) the class of each row / column
  std::vector<int64_t> counts;   // (L, L) row-major

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t at(int64_t row, int64_t col) const { return counts[row * size() + col]; }
  std::vector<double> normalized(Normalize how) const;  // (L, L) row-major
  // Fixed-width text: a header of predicted labels, one row per true label.
  // `names` (one per label, optional) replaces the ids in headers.
  std::string to_string(const std::vector<std::string>& names = {}) const;
};
ConfusionMatrix confusion_matrix(const ConfusionCounts& counts, const std::vector<int64_t>& labels = {});
ConfusionMatrix confusion_matrix(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                 int64_t num_classes, const std::vector<int64_t>& labels = {});

// precision_recall_fscore_support(average=None): one entry per label.
struct PerClassScores {
  std::vector<int64_t> labels;    // (L,)
  std::vector<double> precision;  // (L,)
  std::vector<double> recall;     // (L,)
  std::vector<double> fscore;     // (L,) F-beta (F1 by default)
  std::vector<int64_t> support;   // (L,) samples whose true class is the label
};
// An average over labels. sklearn returns no support for averages; ours is the
// summed support of the averaged labels (what classification_report prints).
struct AveragedScores {
  double precision = 0, recall = 0, fscore = 0;
  int64_t support = 0;
};

PerClassScores precision_recall_fscore_support(const ConfusionCounts& counts,
                                               const ClassificationOptions& opts = {});
AveragedScores precision_recall_fscore_support(const ConfusionCounts& counts, Average average,
                                               const ClassificationOptions& opts = {});
PerClassScores precision_recall_fscore_support(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                               int64_t num_classes, const ClassificationOptions& opts = {});
AveragedScores precision_recall_fscore_support(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                               int64_t num_classes, Average average,
                                               const ClassificationOptions& opts = {});

}  // namespace tessera::metrics
