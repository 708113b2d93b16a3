// Metrics without the sklearn oracle: hand-computed examples, edge cases
// (empty inputs, ties, constant targets, absent classes) and the errors for bad
// input, whose messages must name the function and the sizes or id involved.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "tessera/metrics/classification.h"
#include "tessera/metrics/regression.h"
#include "tessera/metrics/report.h"

using namespace tessera;
using namespace tessera::test_util;
using namespace tessera::metrics;
using I = std::vector<int64_t>;
using D = std::vector<double>;

namespace {


Tensor scores_of(const D& v, int64_t n, int64_t c) { return from_vector<double>(v, {n, c}); }

}  // namespace

// sklearn's docstring example: macro (0.22, 0.33, 0.27).
TEST(Metrics, HandComputedMulticlass) {
  const I t{0, 1, 2, 0, 1, 2}, p{0, 2, 1, 0, 0, 1};
  EXPECT_DOUBLE_EQ(accuracy(t, p), 2.0 / 6.0);
  const PerClassScores s = precision_recall_fscore_support(t, p, 3);
  EXPECT_EQ(s.labels, (I{0, 1, 2}));
  EXPECT_DOUBLE_EQ(s.precision[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.recall[0], 1.0);
  EXPECT_DOUBLE_EQ(s.fscore[0], 0.8);
  EXPECT_EQ(s.precision[1], 0.0);
  EXPECT_EQ(s.support, (I{2, 2, 2}));
  const AveragedScores m = precision_recall_fscore_support(t, p, 3, Average::Macro);
  EXPECT_NEAR(m.precision, 2.0 / 9.0, 1e-15);
  EXPECT_NEAR(m.recall, 1.0 / 3.0, 1e-15);
  EXPECT_NEAR(m.fscore, 0.8 / 3.0, 1e-15);
  EXPECT_EQ(m.support, 6);
  const AveragedScores mi = precision_recall_fscore_support(t, p, 3, Average::Micro);
  EXPECT_DOUBLE_EQ(mi.fscore, accuracy(t, p));
  const ConfusionMatrix cm = confusion_matrix(t, p, 3);
  EXPECT_EQ(cm.counts, (I{2, 0, 0, 1, 0, 1, 0, 2, 0}));
}

TEST(Metrics, DefaultLabelsArePresentClassesAndZeroDivisionOption) {
  // Class 3 occurs nowhere; class 2 is never predicted.
  const I t{0, 1, 2, 2}, p{0, 1, 1, 1};
  EXPECT_EQ(precision_recall_fscore_support(t, p, 4).labels, (I{0, 1, 2}));
  ClassificationOptions all;
  all.labels = all_classes(4);
  PerClassScores s = precision_recall_fscore_support(t, p, 4, all);
  EXPECT_EQ(s.precision[2], 0.0);  // 0/0 -> zero_division
  EXPECT_EQ(s.precision[3], 0.0);
  EXPECT_EQ(s.fscore[3], 0.0);
  all.zero_division = ZeroDivision::One;
  s = precision_recall_fscore_support(t, p, 4, all);
  EXPECT_EQ(s.precision[2], 1.0);
  EXPECT_EQ(s.recall[2], 0.0);
  EXPECT_EQ(s.fscore[2], 0.0);  // sklearn: F from p = 1, r = 0
  EXPECT_EQ(s.precision[3], 1.0);
  EXPECT_EQ(s.recall[3], 1.0);
  EXPECT_EQ(s.fscore[3], 1.0);
  EXPECT_EQ(confusion_matrix(t, p, 4, all_classes(4)).size(), 4);
}

TEST(Metrics, WeightedWithNoSupportFollowsSklearn) {
  const I t{0, 0, 1}, p{2, 0, 1};
  ClassificationOptions o;
  o.labels = {2};  // predicted once, never true
  AveragedScores a = precision_recall_fscore_support(t, p, 4, Average::Weighted, o);
  EXPECT_EQ(a.precision, 0.0);
  EXPECT_EQ(a.recall, 0.0);
  o.zero_division = ZeroDivision::One;
  a = precision_recall_fscore_support(t, p, 4, Average::Weighted, o);
  EXPECT_EQ(a.precision, 0.0);
  EXPECT_EQ(a.recall, 1.0);
  EXPECT_EQ(a.fscore, 0.0);
  o.labels = {3};  // neither true nor predicted
  a = precision_recall_fscore_support(t, p, 4, Average::Weighted, o);
  EXPECT_EQ(a.precision, 1.0);
  EXPECT_EQ(a.fscore, 1.0);
}

TEST(Metrics, BinaryAverage) {
  const I t{0, 1, 1, 0, 1}, p{0, 1, 0, 1, 1};
  const AveragedScores b = precision_recall_fscore_support(t, p, 2, Average::Binary);
  EXPECT_DOUBLE_EQ(b.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(b.recall, 2.0 / 3.0);
  ClassificationOptions o;
  o.pos_label = 0;
  EXPECT_DOUBLE_EQ(precision_recall_fscore_support(t, p, 2, Average::Binary, o).recall, 0.5);
  // Only negatives: pos_label 1 is absent, which sklearn allows (scores 0/0).
  EXPECT_EQ(precision_recall_fscore_support(I{0, 0}, I{0, 0}, 2, Average::Binary).fscore, 0.0);
  expect_error<Error>([] { precision_recall_fscore_support(I{0, 1, 2}, I{0, 1, 2}, 3, Average::Binary); },
                      {"average=binary", "3 classes", "[0, 1, 2]", "macro"});
  o.pos_label = 3;
  expect_error<Error>([&] { precision_recall_fscore_support(I{0, 1}, I{1, 0}, 4, Average::Binary, o); },
                      {"pos_label=3", "[0, 1]"});
}

TEST(Metrics, TopKTiesGoToLowerIdAndMatchArgmax) {
  // Row 0: all tied, so class 0 ranks first, class 1 second, class 2 third.
  const Tensor s = scores_of({1, 1, 1, 0.5, 0.2, 0.9}, 2, 3);
  EXPECT_EQ(top_k_hits(I{0, 2}, s, 1), 2);
  EXPECT_EQ(top_k_hits(I{1, 2}, s, 1), 1);
  EXPECT_EQ(top_k_hits(I{1, 2}, s, 2), 2);
  EXPECT_EQ(top_k_hits(I{2, 2}, s, 1), 1);
  EXPECT_EQ(top_k_hits(I{2, 2}, s, 2), 1);
  EXPECT_EQ(top_k_hits(I{2, 2}, s, 3), 2);
  EXPECT_EQ(top_k_accuracy(I{1, 1}, s, 5), 1.0);  // k >= C
  ClassificationEvaluator ev(3, {1, 2});
  ev.add(s, from_vector<int64_t>({2, 2}, {2}));
  const ClassificationReport r = ev.report();
  EXPECT_EQ(r.top_k[0].second, r.accuracy);
  EXPECT_EQ(r.accuracy, 0.5);
  EXPECT_EQ(r.top_k[1].second, 0.5);
  // float32 scores work too.
  EXPECT_EQ(top_k_hits(I{2, 2}, s.to(DType::F32), 1), 1);
}

TEST(Metrics, RegressionEdgeCases) {
  EXPECT_DOUBLE_EQ(mean_squared_error(D{1, 2, 3}, D{1, 2, 5}), 4.0 / 3.0);
  EXPECT_DOUBLE_EQ(mean_absolute_error(D{1, 2, 3}, D{0, 2, 5}), 1.0);
  EXPECT_DOUBLE_EQ(r2_score(D{1, 2, 3}, D{3, 2, 1}), -3.0);
  EXPECT_EQ(r2_score(D{1, 2, 3}, D{2, 2, 2}), 0.0);
  EXPECT_EQ(r2_score(D{-2, -2, -2}, D{-2, -2, -2}), 1.0);      // constant, hit
  EXPECT_EQ(r2_score(D{-2, -2, -2}, D{-2, -2, -2 + 1e-8}), 0.0);  // constant, missed
  EXPECT_TRUE(std::isnan(r2_score(D{1}, D{2})));
  EXPECT_EQ(regression_values(from_vector<float>({1, 2}, {2, 1})), (D{1, 2}));
}

TEST(Metrics, EmptyInputs) {
  expect_error<Error>([] { accuracy(I{}, I{}); }, {"accuracy", "no samples"});
  expect_error<Error>([] { top_k_accuracy(I{}, zeros({0, 3}), 1); }, {"top_k_accuracy", "no samples"});
  expect_error<Error>([] { mean_squared_error(D{}, D{}); }, {"mean_squared_error", "no samples"});
  expect_error<Error>([] { precision_recall_fscore_support(I{}, I{}, 3); }, {"no labels"});
  EXPECT_EQ(confusion_matrix(I{}, I{}, 3).size(), 0);
  EXPECT_EQ(confusion_matrix(I{}, I{}, 3, {0, 2}).counts, (I{0, 0, 0, 0}));
  expect_error<Error>([] { ClassificationEvaluator(3).report(); }, {"no samples"});
}

TEST(Metrics, LengthMismatchNamesBothSizes) {
  expect_error<ShapeError>([] { accuracy(I{0, 1, 2}, I{0, 1}); }, {"accuracy", "3 elements", "has 2"});
  expect_error<ShapeError>([] { precision_recall_fscore_support(I{0}, I{0, 1}, 2); },
                           {"precision_recall_fscore_support", "1 elements", "has 2"});
  expect_error<ShapeError>([] { confusion_matrix(I{0, 1}, I{0}, 2); }, {"confusion_matrix", "2 elements", "has 1"});
  expect_error<ShapeError>([] { ConfusionCounts(2).add(I{0}, I{}); }, {"ConfusionCounts::add", "1 elements"});
  expect_error<ShapeError>([] { top_k_accuracy(I{0, 1}, zeros({3, 4}), 1); },
                           {"top_k_accuracy", "2 elements", "3 rows"});
  expect_error<ShapeError>([] { mean_absolute_error(D{1, 2}, D{1}); }, {"mean_absolute_error", "2 elements", "has 1"});
  expect_error<ShapeError>([] { r2_score(D{1}, D{1, 2}); }, {"r2_score"});
}

TEST(Metrics, ClassOutOfRangeNamesIndexAndValue) {
  expect_error<IndexError>([] { precision_recall_fscore_support(I{0, 1, 7}, I{0, 1, 2}, 5); },
                           {"precision_recall_fscore_support", "y_true[2] = 7", "5 classes", "0..4"});
  expect_error<IndexError>([] { confusion_matrix(I{0, 1}, I{-1, 0}, 3); }, {"confusion_matrix", "y_pred[0] = -1"});
  ConfusionCounts c(3);
  expect_error<IndexError>([&] { c.add(I{0, 1}, I{0, 3}); }, {"ConfusionCounts::add", "y_pred[1] = 3", "3 classes"});
  EXPECT_EQ(c.total(), 0);  // a rejected batch adds nothing
  expect_error<IndexError>([] { top_k_accuracy(I{0, 4}, zeros({2, 4}), 1); }, {"top_k_accuracy", "y_true[1] = 4"});
  ClassificationOptions o;
  o.labels = {0, 9};
  expect_error<IndexError>([&] { precision_recall_fscore_support(I{0}, I{0}, 3, o); }, {"label 9", "3 classes"});
  o.labels = {1, 0, 1};
  expect_error<Error>([&] { confusion_matrix(I{0}, I{0}, 3, o.labels); }, {"label 1 appears twice"});
}

TEST(Metrics, BadOptionsAndTensors) {
  expect_error<Error>([] { ConfusionCounts(0); }, {"num_classes must be positive, got 0"});
  expect_error<Error>([] { ConfusionCounts(100000); }, {"100000 classes"});
  ClassificationOptions o;
  o.beta = -1;
  expect_error<Error>([&] { precision_recall_fscore_support(I{0}, I{0}, 1, o); }, {"beta must be >= 0"});
  expect_error<Error>([] { top_k_accuracy(I{0}, zeros({1, 3}), 0); }, {"k must be >= 1, got 0"});
  expect_error<ShapeError>([] { top_k_accuracy(I{0}, zeros({3}), 1); }, {"(N, C)", "[3]"});
  expect_error<DTypeError>([] { top_k_accuracy(I{0}, from_vector<int64_t>({1, 2}, {1, 2}), 1); }, {"int64"});
  expect_error<Error>([] { top_k_accuracy(I{0}, scores_of({0, NAN}, 1, 2), 1); }, {"scores[0, 1] is NaN"});
  expect_error<ShapeError>([] { class_ids(zeros({2, 2}, {.dtype = DType::I64}), "targets"); },
                           {"targets", "1-D", "[2, 2]"});
  expect_error<DTypeError>([] { class_ids(zeros({2}), "targets"); }, {"targets", "float32"});
  EXPECT_EQ(class_ids(from_vector<int32_t>({3, 1}, {2})), (I{3, 1}));
  expect_error<ShapeError>([] { regression_values(zeros({2, 3}), "y_pred"); }, {"y_pred", "[2, 3]"});
  ClassificationEvaluator ev(3);
  expect_error<ShapeError>([&] { ev.add(zeros({2, 4}), from_vector<int64_t>({0, 1}, {2})); }, {"(N, 3)", "[2, 4]"});
  EXPECT_EQ(ev.counts().total(), 0);
  ReportOptions ro;
  ro.class_names = {"a", "b"};
  expect_error<ShapeError>([&] { classification_report(I{0}, I{0}, 3, ro); }, {"2 class names for 3 classes"});
}

TEST(Metrics, ReportTableJsonAndScalars) {
  ClassificationEvaluator ev(3, {2, 1});
  ev.add(scores_of({0.9, 0.1, 0.0, 0.2, 0.7, 0.1, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8}, 4, 3),
         from_vector<int64_t>({0, 1, 2, 2}, {4}));
  ev.add_loss(0.5, 2);
  ev.add_loss(1.0, 2);
  ReportOptions ro;
  ro.class_names = {"cat", "dog", "bird"};
  const ClassificationReport r = ev.report(ro);
  EXPECT_EQ(r.accuracy, 0.75);
  ASSERT_TRUE(r.loss.has_value());
  EXPECT_DOUBLE_EQ(*r.loss, 0.75);
  const std::string table = r.to_table();
  for (const char* part : {"precision", "cat", "bird", "accuracy", "macro avg", "weighted avg", "top-1 accuracy",
                           "top-2 accuracy", "loss", "0.7500"})
    EXPECT_NE(table.find(part), std::string::npos) << part << " missing in\n" << table;
  const auto j = nlohmann::json::parse(r.to_json());
  EXPECT_EQ(j["accuracy"], 0.75);
  EXPECT_EQ(j["num_samples"], 4);
  EXPECT_EQ(j["classes"][2]["name"], "bird");
  EXPECT_EQ(j["top_k_accuracy"]["2"], 1.0);
  EXPECT_EQ(j["confusion_matrix"]["counts"][2], (I{0, 1, 1}));
  EXPECT_TRUE(j["macro"].contains("f1"));
  bool found = false;
  for (const auto& [k, v] : r.scalars()) found |= (k == "top2_accuracy" && v == 1.0);
  EXPECT_TRUE(found);
  EXPECT_EQ(r.confusion.to_string(r.names), "true\\pred   cat   dog  bird\n"
                                            "      cat     1     0     0\n"
                                            "      dog     0     1     0\n"
                                            "     bird     0     1     1\n");
  // A label subset: sklearn's "micro avg" row, then overall accuracy.
  ReportOptions sub;
  sub.scoring.labels = {2, 0};
  const std::string t2 = ev.report(sub).to_table();
  EXPECT_NE(t2.find("micro avg"), std::string::npos) << t2;
  EXPECT_LT(t2.find("micro avg"), t2.rfind("accuracy")) << t2;

  const RegressionReport rr = regression_report(D{1, 2, 3}, D{1, 2, 5});
  EXPECT_NE(rr.to_table().find("rmse"), std::string::npos);
  const auto rj = nlohmann::json::parse(rr.to_json());
  EXPECT_DOUBLE_EQ(rj["mse"].get<double>(), 4.0 / 3.0);
  EXPECT_EQ(rj["num_samples"], 3);
}

TEST(Metrics, NormalizedConfusion) {
  const ConfusionMatrix cm = confusion_matrix(I{0, 0, 1}, I{0, 1, 1}, 3, {0, 1, 2});
  EXPECT_EQ(cm.normalized(Normalize::True), (D{0.5, 0.5, 0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(cm.normalized(Normalize::Pred), (D{1, 0.5, 0, 0, 0.5, 0, 0, 0, 0}));
  EXPECT_EQ(cm.normalized(Normalize::All)[0], 1.0 / 3.0);
}
