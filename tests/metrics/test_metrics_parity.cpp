// Metrics parity with scikit-learn: replays the golden file of
// tests/metrics/gen_metrics_golden.py (path in env TESSERA_METRICS_GOLDEN) and
// requires |ours - sklearn| <= 1e-12 for every number: accuracy_score,
// precision_recall_fscore_support (per class and every average, both
// zero_division values, several betas), confusion_matrix (counts and each
// normalization), top_k_accuracy_score, MSE, MAE and R^2; the report table
// must reproduce sklearn's classification_report text. Prints the largest
// difference per metric.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/metrics/classification.h"
#include "tessera/metrics/regression.h"
#include "tessera/metrics/report.h"

using namespace tessera;
using namespace tessera::metrics;
using nlohmann::json;

namespace {

constexpr double kTol = 1e-12;

const json* golden() {
  static std::unique_ptr<json> g = [] {
    const char* path = std::getenv("TESSERA_METRICS_GOLDEN");
    if (!path || !*path) return std::unique_ptr<json>();
    std::ifstream in(path);
    if (!in) throw Error(std::string("TESSERA_METRICS_GOLDEN: cannot open ") + path);
    return std::make_unique<json>(json::parse(in));
  }();
  return g.get();
}

#define REQUIRE_GOLDEN()                                                                                    \
  if (!golden())                                                                                            \
  GTEST_SKIP() << "TESSERA_METRICS_GOLDEN is not set: generate it with /usr/bin/python3 "                  \
                  "tests/metrics/gen_metrics_golden.py --out <file> (needs python3-sklearn; ctest's "       \
                  "metrics_parity does this)"

// Largest |ours - sklearn| and number of values compared, per metric.
struct Stat {
  double max_diff = 0;
  int64_t count = 0;
};
std::map<std::string, Stat>& stats() {
  static std::map<std::string, Stat> s;
  return s;
}

// A null reference stands for NaN (JSON has none).
void check(const std::string& metric, double ours, const json& ref, const std::string& where) {
  Stat& s = stats()[metric];
  ++s.count;
  if (ref.is_null()) {
    EXPECT_TRUE(std::isnan(ours)) << where << ": " << metric << " = " << ours << ", sklearn gives NaN";
    return;
  }
  const double want = ref.get<double>();
  const double diff = std::abs(ours - want);
  s.max_diff = std::max(s.max_diff, std::isnan(diff) ? INFINITY : diff);
  EXPECT_LE(diff, kTol) << where << ": " << metric << " = " << std::setprecision(17) << ours << ", sklearn "
                        << want;
}

void check_vec(const std::string& metric, const std::vector<double>& ours, const json& ref, const std::string& where) {
  ASSERT_EQ(ours.size(), ref.size()) << where << ": " << metric;
  for (size_t i = 0; i < ours.size(); ++i) check(metric, ours[i], ref[i], where + "[" + std::to_string(i) + "]");
}

// sklearn 1.2 computes supports in float when no prediction is correct (its
// "pathological case" in multilabel_confusion_matrix) and prints "      3.0";
// ours stay integers. Rewrites such a support column as sklearn prints ints.
std::string integer_supports(const std::string& report) {
  std::istringstream in(report);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.size() >= 2 && line.compare(line.size() - 2, 2, ".0") == 0)
      line = line.substr(0, line.size() - 9) + std::string(2, ' ') + line.substr(line.size() - 9, 7);
    out += line + "\n";
  }
  return out;
}

void print_stats(const char* title) {
  std::ostringstream os;
  os << title << "\n| metric | values | max abs difference vs sklearn |\n|---|---|---|\n";
  for (const auto& [name, s] : stats())
    os << "| " << name << " | " << s.count << " | " << std::setprecision(3) << std::scientific << s.max_diff
       << " |\n";
  std::cout << os.str();
  stats().clear();
}

}  // namespace

TEST(MetricsParity, Classification) {
  REQUIRE_GOLDEN();
  ASSERT_FALSE((*golden())["classification"].empty());
  for (const auto& c : (*golden())["classification"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const int64_t num_classes = c["num_classes"];
    const auto y_true = c["y_true"].get<std::vector<int64_t>>();
    const auto y_pred = c["y_pred"].get<std::vector<int64_t>>();
    const std::vector<int64_t> labels = c["labels"].is_null() ? std::vector<int64_t>{}
                                                              : c["labels"].get<std::vector<int64_t>>();
    ConfusionCounts counts(num_classes);
    counts.add(y_true, y_pred);

    check("accuracy", accuracy(y_true, y_pred), c["accuracy"], name);
    check("accuracy", accuracy(counts), c["accuracy"], name);

    for (const auto& set : c["scores_sets"]) {
      ClassificationOptions opts;
      opts.labels = labels;
      opts.beta = set["beta"];
      opts.zero_division = set["zero_division"].get<int>() == 1 ? ZeroDivision::One : ZeroDivision::Zero;
      std::ostringstream w;
      w << name << " beta=" << opts.beta << " zero_division=" << set["zero_division"].get<int>();
      const std::string where = w.str();

      const PerClassScores per = precision_recall_fscore_support(y_true, y_pred, num_classes, opts);
      EXPECT_EQ(per.labels, c["resolved_labels"].get<std::vector<int64_t>>()) << where;
      check_vec("per-class precision", per.precision, set["per_class"]["precision"], where);
      check_vec("per-class recall", per.recall, set["per_class"]["recall"], where);
      check_vec("per-class fscore", per.fscore, set["per_class"]["fscore"], where);
      EXPECT_EQ(per.support, set["per_class"]["support"].get<std::vector<int64_t>>()) << where;

      for (const auto& [avg_name, avg] :
           {std::pair{"micro", Average::Micro}, std::pair{"macro", Average::Macro},
            std::pair{"weighted", Average::Weighted}}) {
        const AveragedScores a = precision_recall_fscore_support(counts, avg, opts);
        const json& ref = set["averages"][avg_name];
        const std::string m = std::string(avg_name) + " ";
        check(m + "precision", a.precision, ref["precision"], where);
        check(m + "recall", a.recall, ref["recall"], where);
        check(m + "fscore", a.fscore, ref["fscore"], where);
      }
      for (const auto& b : set["binary"]) {
        ClassificationOptions bo = opts;
        bo.pos_label = b["pos_label"];
        const AveragedScores a = precision_recall_fscore_support(y_true, y_pred, num_classes, Average::Binary, bo);
        const std::string bw = where + " pos_label=" + std::to_string(bo.pos_label);
        check("binary precision", a.precision, b["precision"], bw);
        check("binary recall", a.recall, b["recall"], bw);
        check("binary fscore", a.fscore, b["fscore"], bw);
      }
      if (set.contains("report")) {
        ReportOptions ro;
        ro.scoring = opts;
        ro.digits = 4;
        const std::string ours = classification_report(counts, ro).to_table();
        std::string want = set["report"];
        if (c["accuracy"].get<double>() == 0.0) want = integer_supports(want);
        // Ours adds an overall-accuracy row after sklearn's text when labels select a subset.
        EXPECT_EQ(ours.substr(0, want.size()), want) << where << "\nours:\n" << ours << "\nsklearn:\n" << want;
        ++stats()["report table (exact text)"].count;
      }
    }

    if (!c["confusion"].is_null()) {
      const ConfusionMatrix cm = confusion_matrix(y_true, y_pred, num_classes, labels);
      EXPECT_EQ(cm.labels, c["resolved_labels"].get<std::vector<int64_t>>());
      std::vector<int64_t> want;
      for (const auto& row : c["confusion"]["counts"])
        for (const auto& v : row) want.push_back(v.get<int64_t>());
      EXPECT_EQ(cm.counts, want) << name;
      ++stats()["confusion counts (exact)"].count;
      for (const auto& [key, how] : {std::pair{"true", Normalize::True}, std::pair{"pred", Normalize::Pred},
                                     std::pair{"all", Normalize::All}}) {
        json flat = json::array();
        for (const auto& row : c["confusion"][key])
          for (const auto& v : row) flat.push_back(v);
        check_vec(std::string("confusion normalize=") + key, cm.normalized(how), flat, name);
      }
    }

    if (c.contains("scores")) {
      std::vector<double> flat;
      for (const auto& row : c["scores"])
        for (const auto& v : row) flat.push_back(v.get<double>());
      const auto n = static_cast<int64_t>(y_true.size());
      const Tensor scores = from_vector<double>(flat, {n, num_classes});
      std::vector<int64_t> ks;
      for (const auto& [k, acc] : c["top_k"].items()) {
        ks.push_back(std::stoll(k));
        check("top-k accuracy", top_k_accuracy(y_true, scores, ks.back()), acc, name + " k=" + k);
      }
      // The streaming evaluator, fed in uneven batches, must give the same numbers.
      ClassificationEvaluator ev(num_classes, ks);
      for (int64_t start = 0; start < n; start += 37) {
        const int64_t len = std::min<int64_t>(37, n - start);
        ev.add(scores.narrow(0, start, len),
               from_vector<int64_t>(std::vector<int64_t>(y_true.begin() + start, y_true.begin() + start + len),
                                    {len}));
      }
      const ClassificationReport r = ev.report();
      check("accuracy", r.accuracy, c["accuracy"], name + " evaluator");
      for (const auto& [k, acc] : r.top_k)
        check("top-k accuracy", acc, c["top_k"][std::to_string(k)], name + " evaluator");
      check("macro fscore", r.macro.fscore, c["scores_sets"][0]["averages"]["macro"]["fscore"], name + " evaluator");
    }
  }
  print_stats("Classification metrics vs scikit-learn:");
}

TEST(MetricsParity, Regression) {
  REQUIRE_GOLDEN();
  ASSERT_FALSE((*golden())["regression"].empty());
  for (const auto& c : (*golden())["regression"]) {
    const std::string name = c["name"];
    const auto y_true = c["y_true"].get<std::vector<double>>();
    const auto y_pred = c["y_pred"].get<std::vector<double>>();
    check("mse", mean_squared_error(y_true, y_pred), c["mse"], name);
    check("mae", mean_absolute_error(y_true, y_pred), c["mae"], name);
    check("r2", r2_score(y_true, y_pred), c["r2"], name);
    const RegressionReport r = regression_report(y_true, y_pred);
    check("r2", r.r2, c["r2"], name + " report");
  }
  print_stats("Regression metrics vs scikit-learn:");
}
