// Evaluation reports (see include/tessera/metrics/report.h). The table copies
// the layout of sklearn's classification_report (column widths, blank lines,
// the "accuracy" row) so users can diff the two; the parity test compares the
// strings.
#include "tessera/metrics/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "metrics/report_json.h"

namespace tessera::metrics {

namespace {

std::string fixed(double v, int digits, int width = 9) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%*.*f", width, digits, v);
  return buf;
}

std::string right(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string shape_string(const Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::string s = "shape [";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// "f1" for beta = 1, otherwise "fbeta": the key and column of the F score.
std::string f_name(double beta) { return beta == 1.0 ? "f1" : "fbeta"; }

nlohmann::json scores_json(const AveragedScores& s, double beta) {
  return {{"precision", s.precision}, {"recall", s.recall}, {f_name(beta), s.fscore}, {"support", s.support}};
}

}  // namespace

// ---- classification ----

ClassificationReport classification_report(const ConfusionCounts& counts, const ReportOptions& opts) {
  const ClassificationOptions& sc = opts.scoring;
  TSR_CHECK(opts.class_names.empty() || static_cast<int64_t>(opts.class_names.size()) == counts.num_classes(),
            ShapeError, "classification_report: ", opts.class_names.size(), " class names for ", counts.num_classes(),
            " classes (one name per class id expected)");
  TSR_CHECK(opts.digits >= 0 && opts.digits <= 12, Error, "classification_report: digits must be in 0..12, got ",
            opts.digits);
  ClassificationReport r;
  r.num_samples = counts.total();
  r.accuracy = accuracy(counts);
  r.beta = sc.beta;
  r.zero_division = sc.zero_division;
  r.digits = opts.digits;
  r.per_class = precision_recall_fscore_support(counts, sc);
  for (int64_t l : r.per_class.labels)
    r.names.push_back(opts.class_names.empty() ? std::to_string(l) : opts.class_names[l]);
  const std::vector<int64_t> present = counts.present_labels();
  r.micro_is_accuracy = sc.labels.empty() || std::set<int64_t>(sc.labels.begin(), sc.labels.end()) ==
                                                 std::set<int64_t>(present.begin(), present.end());
  r.micro = precision_recall_fscore_support(counts, Average::Micro, sc);
  r.macro = precision_recall_fscore_support(counts, Average::Macro, sc);
  r.weighted = precision_recall_fscore_support(counts, Average::Weighted, sc);
  r.confusion = confusion_matrix(counts, r.per_class.labels);
  return r;
}

ClassificationReport classification_report(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                           int64_t num_classes, const ReportOptions& opts) {
  ConfusionCounts counts(num_classes);
  counts.add(y_true, y_pred);
  return classification_report(counts, opts);
}

std::string ClassificationReport::to_table() const {
  std::vector<std::pair<std::string, double>> extra;  // rows in the accuracy layout, after the averages
  for (const auto& [k, acc] : top_k) extra.emplace_back("top-" + std::to_string(k) + " accuracy", acc);
  if (loss) extra.emplace_back("loss", *loss);
  if (!micro_is_accuracy) extra.emplace_back("accuracy", accuracy);

  size_t width = std::max<size_t>(std::string("weighted avg").size(), static_cast<size_t>(digits));
  for (const auto& n : names) width = std::max(width, n.size());
  for (const auto& e : extra) width = std::max(width, e.first.size());

  const std::string f_head = beta == 1.0 ? "f1-score" : "fbeta-score";
  std::string out = right("", width) + " " + right("precision", 10) + right("recall", 10) + right(f_head, 10) +
                    right("support", 10) + "\n\n";
  const auto row = [&](const std::string& name, double p, double rc, double f, int64_t s) {
    out += right(name, width) + " " + " " + fixed(p, digits) + " " + fixed(rc, digits) + " " + fixed(f, digits) +
           " " + right(std::to_string(s), 9) + "\n";
  };
  const auto acc_row = [&](const std::string& name, double v, int64_t s) {
    out += right(name, width) + " " + std::string(20, ' ') + " " + fixed(v, digits) + " " +
           right(std::to_string(s), 9) + "\n";
  };
  for (size_t i = 0; i < names.size(); ++i)
    row(names[i], per_class.precision[i], per_class.recall[i], per_class.fscore[i], per_class.support[i]);
  out += "\n";
  // sklearn's support column for every average is the labels' summed support.
  if (micro_is_accuracy) {
    acc_row("accuracy", micro.fscore, micro.support);
  } else {
    row("micro avg", micro.precision, micro.recall, micro.fscore, micro.support);
  }
  row("macro avg", macro.precision, macro.recall, macro.fscore, macro.support);
  row("weighted avg", weighted.precision, weighted.recall, weighted.fscore, weighted.support);
  for (const auto& [name, v] : extra) acc_row(name, v, num_samples);
  return out;
}

std::vector<std::pair<std::string, double>> ClassificationReport::scalars() const {
  std::vector<std::pair<std::string, double>> s{{"accuracy", accuracy}};
  const std::string f = f_name(beta);
  const std::pair<const char*, const AveragedScores*> averages[] = {
      {"micro", &micro}, {"macro", &macro}, {"weighted", &weighted}};
  for (const auto& [name, a] : averages) {
    s.emplace_back(std::string(name) + "_precision", a->precision);
    s.emplace_back(std::string(name) + "_recall", a->recall);
    s.emplace_back(std::string(name) + "_" + f, a->fscore);
  }
  for (const auto& [k, acc] : top_k) s.emplace_back("top" + std::to_string(k) + "_accuracy", acc);
  if (loss) s.emplace_back("loss", *loss);
  return s;
}

nlohmann::json report_to_json(const ClassificationReport& r) {
  using nlohmann::json;
  json j;
  j["num_samples"] = r.num_samples;
  j["accuracy"] = r.accuracy;
  if (r.loss) j["loss"] = *r.loss;
  json topk = json::object();
  for (const auto& [k, acc] : r.top_k) topk[std::to_string(k)] = acc;
  j["top_k_accuracy"] = topk;
  j["beta"] = r.beta;
  j["zero_division"] = r.zero_division == ZeroDivision::One ? 1 : 0;
  const std::string f = f_name(r.beta);
  json classes = json::array();
  for (size_t i = 0; i < r.per_class.labels.size(); ++i) {
    classes.push_back({{"label", r.per_class.labels[i]},
                       {"name", r.names[i]},
                       {"precision", r.per_class.precision[i]},
                       {"recall", r.per_class.recall[i]},
                       {f, r.per_class.fscore[i]},
                       {"support", r.per_class.support[i]}});
  }
  j["classes"] = classes;
  j["micro"] = scores_json(r.micro, r.beta);
  j["macro"] = scores_json(r.macro, r.beta);
  j["weighted"] = scores_json(r.weighted, r.beta);
  json rows = json::array();
  const int64_t l = r.confusion.size();
  for (int64_t i = 0; i < l; ++i) {
    rows.push_back(std::vector<int64_t>(r.confusion.counts.begin() + i * l, r.confusion.counts.begin() + (i + 1) * l));
  }
  j["confusion_matrix"] = {{"labels", r.confusion.labels}, {"counts", rows}};
  return j;
}

std::string ClassificationReport::to_json(int indent) const { return report_to_json(*this).dump(indent); }

// ---- regression ----

RegressionReport regression_report(std::span<const double> y_true, std::span<const double> y_pred) {
  RegressionReport r;
  r.num_samples = static_cast<int64_t>(y_true.size());
  r.mse = mean_squared_error(y_true, y_pred);
  r.mae = mean_absolute_error(y_true, y_pred);
  r.r2 = r2_score(y_true, y_pred);
  return r;
}

std::vector<std::pair<std::string, double>> RegressionReport::scalars() const {
  std::vector<std::pair<std::string, double>> s{{"mse", mse}, {"rmse", std::sqrt(mse)}, {"mae", mae}, {"r2", r2}};
  if (loss) s.emplace_back("loss", *loss);
  return s;
}

std::string RegressionReport::to_table() const {
  std::string out;
  for (const auto& [name, v] : scalars()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%8s  %*.*f\n", name.c_str(), digits + 8, digits, v);
    out += buf;
  }
  out += right("samples", 8) + "  " + right(std::to_string(num_samples), static_cast<size_t>(digits) + 8) + "\n";
  return out;
}

nlohmann::json report_to_json(const RegressionReport& r) {
  nlohmann::json j{{"num_samples", r.num_samples}};
  for (const auto& [name, v] : r.scalars()) j[name] = v;
  return j;
}

std::string RegressionReport::to_json(int indent) const { return report_to_json(*this).dump(indent); }

// ---- streaming evaluation ----

ClassificationEvaluator::ClassificationEvaluator(int64_t num_classes, std::vector<int64_t> top_k)
    : counts_(num_classes), ks_(std::move(top_k)) {
  std::sort(ks_.begin(), ks_.end());
  ks_.erase(std::unique(ks_.begin(), ks_.end()), ks_.end());
  for (int64_t k : ks_) TSR_CHECK(k >= 1, Error, "ClassificationEvaluator: top-k needs k >= 1, got ", k);
  hits_.assign(ks_.size(), 0);
}

void ClassificationEvaluator::add(const Tensor& scores, const Tensor& y_true) {
  const std::vector<int64_t> t = class_ids(y_true, "ClassificationEvaluator::add: y_true");
  TSR_CHECK(scores.defined() && scores.dim() == 2 && scores.size(1) == counts_.num_classes(), ShapeError,
            "ClassificationEvaluator::add: scores must be (N, ", counts_.num_classes(), "), got ",
            shape_string(scores));
  // top_k_hits checks rows against y_true, dtype, ids and NaN before anything is counted.
  std::vector<int64_t> batch_hits(ks_.size());
  for (size_t i = 0; i < ks_.size(); ++i) batch_hits[i] = top_k_hits(t, scores, ks_[i]);
  if (ks_.empty()) top_k_hits(t, scores, 1);
  const std::vector<double> s = scores.to_vector<double>();  // (N, C)
  const int64_t n = scores.size(0), c = scores.size(1);
  std::vector<int64_t> pred(n);
  for (int64_t i = 0; i < n; ++i) {
    const double* row = s.data() + i * c;
    pred[i] = std::max_element(row, row + c) - row;  // first maximum, as argmax
  }
  counts_.add(t, pred);
  for (size_t i = 0; i < ks_.size(); ++i) hits_[i] += batch_hits[i];
}

void ClassificationEvaluator::add_loss(double mean_loss, int64_t batch_size) {
  TSR_CHECK(batch_size >= 0, Error, "ClassificationEvaluator::add_loss: batch_size must be >= 0, got ", batch_size);
  loss_sum_ += mean_loss * static_cast<double>(batch_size);
  loss_count_ += batch_size;
}

ClassificationReport ClassificationEvaluator::report(const ReportOptions& opts) const {
  ClassificationReport r = classification_report(counts_, opts);
  for (size_t i = 0; i < ks_.size(); ++i)
    r.top_k.emplace_back(ks_[i], static_cast<double>(hits_[i]) / static_cast<double>(counts_.total()));
  if (loss_count_ > 0) r.loss = loss_sum_ / static_cast<double>(loss_count_);
  return r;
}

}  // namespace tessera::metrics
