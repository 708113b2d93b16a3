// BatchNorm1d / BatchNorm2d: torch's state_dict names, the running-statistics
// update (checked against the formula), train/eval behaviour and bad inputs.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>

#include "tessera/nn/batchnorm.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;


TEST(NnBatchNorm, StateDictNamesAsTorch) {
  nn::BatchNorm2d m(3);
  auto sd = m.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, v] : sd) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"bias", "num_batches_tracked", "running_mean", "running_var", "weight"}));
  EXPECT_EQ(sd["num_batches_tracked"].dtype(), DType::I64);
  EXPECT_EQ(sd["num_batches_tracked"].dim(), 0);
  EXPECT_EQ(sd["running_var"].to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(m.named_parameters().size(), 2u);

  nn::BatchNorm1d bare(nn::BatchNormOptions{4, 1e-5, 0.1, /*affine=*/false, /*track_running_stats=*/false});
  EXPECT_TRUE(bare.state_dict().empty());
  EXPECT_TRUE(bare.named_parameters().empty());
}

TEST(NnBatchNorm, RunningStatsUpdateMatchesFormula) {
  manual_seed(5);
  nn::BatchNorm1d m(nn::BatchNormOptions{2, 1e-5, 0.25});
  Tensor x = randn({5, 2, 3});
  m(x);
  // Per channel: batch mean and unbiased variance over (N, L) = 15 values.
  auto v = x.to_vector<double>();
  for (int c = 0; c < 2; ++c) {
    std::vector<double> vals;
    for (int n = 0; n < 5; ++n)
      for (int l = 0; l < 3; ++l) vals.push_back(v[(n * 2 + c) * 3 + l]);
    double mu = 0, ss = 0;
    for (double a : vals) mu += a;
    mu /= vals.size();
    for (double a : vals) ss += (a - mu) * (a - mu);
    double unbiased = ss / (vals.size() - 1);
    EXPECT_NEAR(m.running_mean.to_vector<double>()[c], 0.25 * mu, 1e-6);
    EXPECT_NEAR(m.running_var.to_vector<double>()[c], 0.75 + 0.25 * unbiased, 1e-6);
  }
  EXPECT_EQ(m.num_batches_tracked.item(), 1);
}

TEST(NnBatchNorm, EvalUsesRunningStatsAndFreezesThem) {
  manual_seed(6);
  nn::BatchNorm2d m(2);
  Tensor x = randn({3, 2, 2, 2});
  m(x);
  m(x);
  auto rm = m.running_mean.to_vector<float>();
  auto rv = m.running_var.to_vector<float>();
  m.eval();
  Tensor y = m(x);
  EXPECT_EQ(m.running_mean.to_vector<float>(), rm);
  EXPECT_EQ(m.running_var.to_vector<float>(), rv);
  EXPECT_EQ(m.num_batches_tracked.item(), 2);
  auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) {
    int c = (i / 4) % 2;
    EXPECT_NEAR(yv[i], (xv[i] - rm[c]) / std::sqrt(rv[c] + 1e-5), 1e-5);
  }
  // Eval on one sample works (no batch statistics needed).
  EXPECT_NO_THROW(m(randn({1, 2, 1, 1})));
}

TEST(NnBatchNorm, StateDictRoundTrip) {
  manual_seed(7);
  nn::BatchNorm1d a(3), b(3);
  a(randn({4, 3}));
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.running_mean.to_vector<float>(), a.running_mean.to_vector<float>());
  EXPECT_EQ(b.num_batches_tracked.item(), 1);
}

TEST(NnBatchNorm, WrongChannelsNamesModuleAndShape) {
  nn::BatchNorm1d m1(4);
  std::string msg = error_of<ShapeError>([&] { m1(randn({2, 5})); });
  EXPECT_TRUE(has(msg, "BatchNorm1d(4)") && has(msg, "[2, 5]") && has(msg, "C = 4")) << msg;
  msg = error_of<ShapeError>([&] { m1(randn({2, 4, 3, 3})); });
  EXPECT_TRUE(has(msg, "BatchNorm1d(4)") && has(msg, "[2, 4, 3, 3]")) << msg;
  nn::BatchNorm2d m2(3);
  msg = error_of<ShapeError>([&] { m2(randn({2, 4, 5, 5})); });
  EXPECT_TRUE(has(msg, "BatchNorm2d(3)") && has(msg, "[2, 4, 5, 5]")) << msg;
  msg = error_of<ShapeError>([&] { m2(randn({3, 5, 5})); });
  EXPECT_TRUE(has(msg, "BatchNorm2d(3)") && has(msg, "[3, 5, 5]")) << msg;
  // One value per channel cannot give batch statistics (as torch).
  msg = error_of<ShapeError>([&] { m2(randn({1, 3, 1, 1})); });
  EXPECT_TRUE(has(msg, "more than 1 value per channel")) << msg;
  EXPECT_THROW(m2(ones({2, 3, 2, 2}, {.dtype = DType::I64})), DTypeError);
  EXPECT_THROW(nn::BatchNorm2d(0), ShapeError);
}

TEST(NnBatchNorm, CumulativeMomentumAverages) {
  manual_seed(8);
  nn::BatchNorm1d m(nn::BatchNormOptions{1, 1e-5, std::nullopt});
  Tensor a = randn({6, 1}), b = randn({6, 1});
  m(a);
  m(b);
  double expect = 0.5 * (mean(a).item() + mean(b).item());
  EXPECT_NEAR(m.running_mean.item(), expect, 1e-6);
}

TEST(NnBatchNorm, EmptyBatchPassesThrough) {
  nn::BatchNorm1d m(3);
  Tensor y = m(randn({0, 3}));
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
}
