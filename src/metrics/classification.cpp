// Classification metrics (see include/tessera/metrics/classification.h). The
// arithmetic mirrors sklearn 1.2's _classification.py step by step (same
// zero-division substitutions, same F formula and operation order) so results
// agree to rounding; sums over classes are compensated so they do not depend
// on the number of classes more than numpy's pairwise sums do.
#include "tessera/metrics/classification.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <unordered_set>

#include "metrics/sum.h"

namespace tessera::metrics {

namespace {

// More classes than this would make the (C, C) count matrix absurdly large.
constexpr int64_t kMaxClasses = 16384;

std::string join(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

void check_same_length(size_t n_true, size_t n_pred, const char* fn) {
  TSR_CHECK(n_true == n_pred, ShapeError, fn, ": y_true has ", n_true, " elements but y_pred has ", n_pred,
            " (one predicted class per true class expected)");
}

void check_ids(std::span<const int64_t> ids, int64_t num_classes, const char* fn, const char* what) {
  for (size_t i = 0; i < ids.size(); ++i) {
    TSR_CHECK(ids[i] >= 0 && ids[i] < num_classes, IndexError, fn, ": ", what, "[", i, "] = ", ids[i],
              " is out of range for ", num_classes, " classes (expected 0..", num_classes - 1, ")");
  }
}

ConfusionCounts make_counts(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                            int64_t num_classes, const char* fn) {
  TSR_CHECK(num_classes > 0, Error, fn, ": num_classes must be positive, got ", num_classes);
  check_same_length(y_true.size(), y_pred.size(), fn);
  check_ids(y_true, num_classes, fn, "y_true");
  check_ids(y_pred, num_classes, fn, "y_pred");
  ConfusionCounts counts(num_classes);
  counts.add(y_true, y_pred);
  return counts;
}

// `labels` as given (checked: in range, no repeats) or the present labels.
std::vector<int64_t> resolve_labels(const ConfusionCounts& counts, const std::vector<int64_t>& labels,
                                    const char* fn) {
  if (labels.empty()) return counts.present_labels();
  std::unordered_set<int64_t> seen;
  for (int64_t l : labels) {
    TSR_CHECK(l >= 0 && l < counts.num_classes(), IndexError, fn, ": label ", l, " in labels is out of range for ",
              counts.num_classes(), " classes (expected 0..", counts.num_classes() - 1, ")");
    TSR_CHECK(seen.insert(l).second, Error, fn, ": label ", l, " appears twice in labels ", join(labels));
  }
  return labels;
}

void check_options(const ClassificationOptions& opts, const char* fn) {
  TSR_CHECK(opts.beta >= 0, Error, fn, ": beta must be >= 0 for the F-beta score, got ", opts.beta);
}

double zero_division_value(ZeroDivision z) { return z == ZeroDivision::One ? 1.0 : 0.0; }

// sklearn's _prf_divide: a zero denominator yields the zero_division value.
double prf_divide(double num, double den, ZeroDivision z) { return den == 0.0 ? zero_division_value(z) : num / den; }

// sklearn's F-beta from precision and recall (not from counts): with
// zero_division = One this is what makes F = 1 for a class that is neither
// present nor predicted.
double f_beta(double precision, double recall, double beta) {
  if (std::isinf(beta)) return recall;
  const double beta2 = beta * beta;
  double denom = beta2 * precision + recall;
  if (denom == 0.0) denom = 1.0;
  return (1 + beta2) * precision * recall / denom;
}

// The labels average=binary scores: only pos_label, and only when at most two
// classes occur (sklearn's "binary" target type).
std::vector<int64_t> binary_labels(const ConfusionCounts& counts, int64_t pos_label, const char* fn) {
  const std::vector<int64_t> present = counts.present_labels();
  TSR_CHECK(present.size() <= 2, Error, fn, ": average=binary needs at most 2 classes but ", present.size(),
            " classes occur in y_true / y_pred: ", join(present), "; use micro, macro or weighted");
  const bool found = std::find(present.begin(), present.end(), pos_label) != present.end();
  TSR_CHECK(found || present.size() < 2, Error, fn, ": pos_label=", pos_label,
            " is not a valid label; it should be one of ", join(present));
  TSR_CHECK(pos_label >= 0 && pos_label < counts.num_classes(), IndexError, fn, ": pos_label ", pos_label,
            " is out of range for ", counts.num_classes(), " classes");
  return {pos_label};
}

}  // namespace

const char* average_name(Average a) {
  switch (a) {
    case Average::Binary: return "binary";
    case Average::Micro: return "micro";
    case Average::Macro: return "macro";
    case Average::Weighted: return "weighted";
  }
  return "?";
}

std::vector<int64_t> all_classes(int64_t num_classes) {
  TSR_CHECK(num_classes > 0, Error, "all_classes: num_classes must be positive, got ", num_classes);
  std::vector<int64_t> v(num_classes);
  for (int64_t i = 0; i < num_classes; ++i) v[i] = i;
  return v;
}

std::vector<int64_t> class_ids(const Tensor& t, const char* what) {
  TSR_CHECK(t.defined(), Error, what, ": undefined tensor");
  TSR_CHECK(t.dim() == 1, ShapeError, what, ": expected a 1-D tensor of class ids, got shape ",
            join(std::vector<int64_t>(t.shape().begin(), t.shape().end())));
  TSR_CHECK(is_integral(t.dtype()), DTypeError, what, ": expected an int32 or int64 tensor of class ids, got ",
            dtype_name(t.dtype()));
  return t.to_vector<int64_t>();
}

// ---- ConfusionCounts ----

ConfusionCounts::ConfusionCounts(int64_t num_classes) : c_(num_classes) {
  TSR_CHECK(num_classes > 0, Error, "ConfusionCounts: num_classes must be positive, got ", num_classes);
  TSR_CHECK(num_classes <= kMaxClasses, Error, "ConfusionCounts: ", num_classes, " classes need a ", num_classes,
            " x ", num_classes, " count matrix; at most ", kMaxClasses, " classes are supported");
  counts_.assign(num_classes * num_classes, 0);
  true_sum_.assign(num_classes, 0);
  pred_sum_.assign(num_classes, 0);
}

void ConfusionCounts::check_class(int64_t c, const char* what) const {
  TSR_CHECK(c >= 0 && c < c_, IndexError, "ConfusionCounts::", what, ": class ", c, " is out of range for ", c_,
            " classes (expected 0..", c_ - 1, ")");
}

void ConfusionCounts::add(std::span<const int64_t> y_true, std::span<const int64_t> y_pred) {
  check_same_length(y_true.size(), y_pred.size(), "ConfusionCounts::add");
  check_ids(y_true, c_, "ConfusionCounts::add", "y_true");
  check_ids(y_pred, c_, "ConfusionCounts::add", "y_pred");
  for (size_t i = 0; i < y_true.size(); ++i) {
    const int64_t t = y_true[i], p = y_pred[i];
    ++counts_[t * c_ + p];
    ++true_sum_[t];
    ++pred_sum_[p];
    correct_ += (t == p);
  }
  total_ += static_cast<int64_t>(y_true.size());
}

void ConfusionCounts::add(const Tensor& y_true, const Tensor& y_pred) {
  const std::vector<int64_t> t = class_ids(y_true, "ConfusionCounts::add: y_true");
  const std::vector<int64_t> p = class_ids(y_pred, "ConfusionCounts::add: y_pred");
  add(t, p);
}

int64_t ConfusionCounts::count(int64_t true_class, int64_t pred_class) const {
  check_class(true_class, "count");
  check_class(pred_class, "count");
  return counts_[true_class * c_ + pred_class];
}

int64_t ConfusionCounts::true_count(int64_t c) const {
  check_class(c, "true_count");
  return true_sum_[c];
}

int64_t ConfusionCounts::pred_count(int64_t c) const {
  check_class(c, "pred_count");
  return pred_sum_[c];
}

std::vector<int64_t> ConfusionCounts::present_labels() const {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < c_; ++c)
    if (true_sum_[c] > 0 || pred_sum_[c] > 0) out.push_back(c);
  return out;
}

// ---- accuracy ----

double accuracy(std::span<const int64_t> y_true, std::span<const int64_t> y_pred) {
  check_same_length(y_true.size(), y_pred.size(), "accuracy");
  TSR_CHECK(!y_true.empty(), Error, "accuracy: no samples (y_true and y_pred are empty)");
  int64_t correct = 0;
  for (size_t i = 0; i < y_true.size(); ++i) correct += (y_true[i] == y_pred[i]);
  return static_cast<double>(correct) / static_cast<double>(y_true.size());
}

double accuracy(const ConfusionCounts& counts) {
  TSR_CHECK(counts.total() > 0, Error, "accuracy: no samples were added to the ConfusionCounts");
  return static_cast<double>(counts.correct()) / static_cast<double>(counts.total());
}

int64_t top_k_hits(std::span<const int64_t> y_true, const Tensor& scores, int64_t k) {
  TSR_CHECK(scores.defined(), Error, "top_k_accuracy: undefined scores tensor");
  TSR_CHECK(scores.dim() == 2, ShapeError, "top_k_accuracy: scores must be (N, C), got shape ",
            join(std::vector<int64_t>(scores.shape().begin(), scores.shape().end())));
  TSR_CHECK(is_floating(scores.dtype()), DTypeError, "top_k_accuracy: scores must be floating point, got ",
            dtype_name(scores.dtype()));
  const int64_t n = scores.size(0), c = scores.size(1);
  TSR_CHECK(n == static_cast<int64_t>(y_true.size()), ShapeError, "top_k_accuracy: y_true has ", y_true.size(),
            " elements but scores has ", n, " rows (shape [", n, ", ", c, "])");
  TSR_CHECK(k >= 1, Error, "top_k_accuracy: k must be >= 1, got ", k);
  TSR_CHECK(c > 0 || n == 0, ShapeError, "top_k_accuracy: scores have 0 classes (shape [", n, ", 0])");
  check_ids(y_true, c, "top_k_accuracy", "y_true");
  const std::vector<double> s = scores.to_vector<double>();  // (N, C), exact for float32 and bfloat16
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double* row = s.data() + i * c;
    const int64_t t = y_true[i];
    const double st = row[t];
    // The true class's rank: classes scoring higher, plus equal scores at lower ids.
    int64_t rank = 0;
    for (int64_t j = 0; j < c; ++j) {
      TSR_CHECK(!std::isnan(row[j]), Error, "top_k_accuracy: scores[", i, ", ", j, "] is NaN");
      rank += (row[j] > st) || (row[j] == st && j < t);
    }
    hits += (rank < k);
  }
  return hits;
}

double top_k_accuracy(std::span<const int64_t> y_true, const Tensor& scores, int64_t k) {
  const int64_t hits = top_k_hits(y_true, scores, k);
  TSR_CHECK(!y_true.empty(), Error, "top_k_accuracy: no samples (y_true is empty)");
  return static_cast<double>(hits) / static_cast<double>(y_true.size());
}

// ---- confusion matrix ----

std::vector<double> ConfusionMatrix::normalized(Normalize how) const {
  const int64_t l = size();
  std::vector<double> out(counts.begin(), counts.end());
  if (how == Normalize::None) return out;
  std::vector<double> den(counts.size(), 0.0);  // (L, L) the divisor of each entry
  int64_t total = 0;
  for (int64_t v : counts) total += v;
  for (int64_t i = 0; i < l; ++i) {
    for (int64_t j = 0; j < l; ++j) {
      int64_t d = 0;
      if (how == Normalize::All) {
        d = total;
      } else {
        for (int64_t m = 0; m < l; ++m) d += how == Normalize::True ? at(i, m) : at(m, j);
      }
      den[i * l + j] = static_cast<double>(d);
    }
  }
  for (size_t e = 0; e < out.size(); ++e) out[e] = den[e] == 0.0 ? 0.0 : out[e] / den[e];  // nan_to_num
  return out;
}

std::string ConfusionMatrix::to_string(const std::vector<std::string>& names) const {
  const int64_t l = size();
  TSR_CHECK(names.empty() || static_cast<int64_t>(names.size()) == l, ShapeError, "ConfusionMatrix::to_string: ",
            names.size(), " names for ", l, " labels");
  std::vector<std::string> heads(l);
  for (int64_t i = 0; i < l; ++i) heads[i] = names.empty() ? std::to_string(labels[i]) : names[i];
  const std::string corner = "true\\pred";
  size_t row_w = corner.size(), col_w = 1;
  for (const auto& h : heads) {
    row_w = std::max(row_w, h.size());
    col_w = std::max(col_w, h.size());
  }
  for (int64_t v : counts) col_w = std::max(col_w, std::to_string(v).size());
  std::ostringstream os;
  os << std::setw(static_cast<int>(row_w)) << corner;
  for (const auto& h : heads) os << "  " << std::setw(static_cast<int>(col_w)) << h;
  os << "\n";
  for (int64_t i = 0; i < l; ++i) {
    os << std::setw(static_cast<int>(row_w)) << heads[i];
    for (int64_t j = 0; j < l; ++j) os << "  " << std::setw(static_cast<int>(col_w)) << at(i, j);
    os << "\n";
  }
  return os.str();
}

ConfusionMatrix confusion_matrix(const ConfusionCounts& counts, const std::vector<int64_t>& labels) {
  ConfusionMatrix cm;
  cm.labels = resolve_labels(counts, labels, "confusion_matrix");
  const int64_t l = cm.size();
  cm.counts.resize(l * l);
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = 0; j < l; ++j) cm.counts[i * l + j] = counts.count(cm.labels[i], cm.labels[j]);
  return cm;
}

ConfusionMatrix confusion_matrix(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                 int64_t num_classes, const std::vector<int64_t>& labels) {
  return confusion_matrix(make_counts(y_true, y_pred, num_classes, "confusion_matrix"), labels);
}

// ---- precision, recall, F ----

PerClassScores precision_recall_fscore_support(const ConfusionCounts& counts, const ClassificationOptions& opts) {
  const char* fn = "precision_recall_fscore_support";
  check_options(opts, fn);
  PerClassScores s;
  s.labels = resolve_labels(counts, opts.labels, fn);
  TSR_CHECK(!s.labels.empty(), Error, fn, ": no labels to score (no samples and no labels given)");
  for (int64_t l : s.labels) {
    const double tp = static_cast<double>(counts.count(l, l));
    const double p = prf_divide(tp, static_cast<double>(counts.pred_count(l)), opts.zero_division);
    const double r = prf_divide(tp, static_cast<double>(counts.true_count(l)), opts.zero_division);
    s.precision.push_back(p);
    s.recall.push_back(r);
    s.fscore.push_back(f_beta(p, r, opts.beta));
    s.support.push_back(counts.true_count(l));
  }
  return s;
}

AveragedScores precision_recall_fscore_support(const ConfusionCounts& counts, Average average,
                                               const ClassificationOptions& opts) {
  const char* fn = "precision_recall_fscore_support";
  check_options(opts, fn);
  ClassificationOptions per = opts;
  if (average == Average::Binary) per.labels = binary_labels(counts, opts.pos_label, fn);
  const PerClassScores s = precision_recall_fscore_support(counts, per);

  AveragedScores out;
  int64_t true_total = 0, pred_total = 0, tp_total = 0;
  for (int64_t l : s.labels) {
    true_total += counts.true_count(l);
    pred_total += counts.pred_count(l);
    tp_total += counts.count(l, l);
  }
  out.support = true_total;
  const auto n = static_cast<double>(s.labels.size());
  switch (average) {
    case Average::Binary:
      out.precision = s.precision[0];
      out.recall = s.recall[0];
      out.fscore = s.fscore[0];
      break;
    case Average::Micro: {
      out.precision = prf_divide(static_cast<double>(tp_total), static_cast<double>(pred_total), opts.zero_division);
      out.recall = prf_divide(static_cast<double>(tp_total), static_cast<double>(true_total), opts.zero_division);
      out.fscore = f_beta(out.precision, out.recall, opts.beta);
      break;
    }
    case Average::Macro:
      out.precision = detail::compensated_sum(s.precision) / n;
      out.recall = detail::compensated_sum(s.recall) / n;
      out.fscore = detail::compensated_sum(s.fscore) / n;
      break;
    case Average::Weighted: {
      if (true_total == 0) {
        // sklearn: no label of the average is present in y_true, so support
        // weights are all zero; precision is ill-defined only without predictions.
        const double z = zero_division_value(opts.zero_division);
        out.precision = pred_total == 0 ? z : 0.0;
        out.recall = z;
        out.fscore = pred_total == 0 ? z : 0.0;
        break;
      }
      const auto weighted = [&](const std::vector<double>& v) {
        std::vector<double> prod(v.size());
        for (size_t i = 0; i < v.size(); ++i) prod[i] = v[i] * static_cast<double>(s.support[i]);
        return detail::compensated_sum(prod) / static_cast<double>(true_total);
      };
      out.precision = weighted(s.precision);
      out.recall = weighted(s.recall);
      out.fscore = weighted(s.fscore);
      break;
    }
  }
  return out;
}

PerClassScores precision_recall_fscore_support(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                               int64_t num_classes, const ClassificationOptions& opts) {
  return precision_recall_fscore_support(
      make_counts(y_true, y_pred, num_classes, "precision_recall_fscore_support"), opts);
}

AveragedScores precision_recall_fscore_support(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                               int64_t num_classes, Average average,
                                               const ClassificationOptions& opts) {
  return precision_recall_fscore_support(
      make_counts(y_true, y_pred, num_classes, "precision_recall_fscore_support"), average, opts);
}

}  // namespace tessera::metrics
