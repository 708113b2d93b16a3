// Activation and softmax tests beyond the parity harness: error messages,
// the vectorized exp/tanh accuracy over the whole float range, stability on
// huge logits, in-place detection on saved outputs, and no reference cycle
// through a saved output.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <limits>
#include <memory>

#include "backends/cpu/activation_math.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;


TEST(Activation, RejectsIntegerInputsNamingTheOp) {
  Tensor i = arange(0, 6).reshape({2, 3});
  expect_error<DTypeError>([&] { relu(i); }, "relu");
  expect_error<DTypeError>([&] { gelu(i); }, "gelu");
  expect_error<DTypeError>([&] { sigmoid(i); }, "sigmoid");
  expect_error<DTypeError>([&] { tessera::tanh(i); }, "tanh");
  expect_error<DTypeError>([&] { silu(i); }, "silu");
  expect_error<DTypeError>([&] { softmax(i, 1); }, "softmax");
  expect_error<DTypeError>([&] { log_softmax(i, 1); }, "log_softmax");
}

TEST(Activation, GeluRejectsUnknownApproximation) {
  expect_error<Error>([&] { gelu(zeros({2}), "fast"); }, "approximate");
}

TEST(Softmax, BadDimIsAnIndexError) {
  Tensor x = zeros({2, 3});
  expect_error<IndexError>([&] { softmax(x, 2); }, "softmax");
  expect_error<IndexError>([&] { log_softmax(x, -3); }, "log_softmax");
  EXPECT_NO_THROW(softmax(x, -2));
}

TEST(Softmax, StableForHugeLogits) {
  Tensor x = from_vector<float>({1000.f, 1001.f, -1000.f, 3e38f, 3e38f, 0.f}, {2, 3});
  auto y = softmax(x, 1).to_vector<float>();
  for (float v : y) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(y[0], 1.f / (1.f + std::exp(1.f)), 1e-6);
  EXPECT_NEAR(y[3], 0.5f, 1e-6);
  auto ly = log_softmax(x, 1).to_vector<float>();
  EXPECT_NEAR(ly[1], -std::log1p(std::exp(-1.f)), 1e-6);
  EXPECT_TRUE(std::isfinite(ly[2]));
}

TEST(Softmax, InPlaceChangeOfOutputIsDetectedInBackward) {
  Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2});
  x.set_requires_grad(true);
  Tensor y = softmax(x, 1);
  {
    NoGradGuard ng;
    y.mul_(2.0);
  }
  EXPECT_THROW(y.backward(ones({2, 2})), AutogradError);
}

TEST(Activation, SavedOutputDoesNotKeepItselfAlive) {
  Tensor x = from_vector<float>({-1, 2}, {2});
  x.set_requires_grad(true);
  std::weak_ptr<TensorImpl> weak;
  {
    Tensor y = sigmoid(x);
    weak = y.impl_ptr();
    Tensor z = softmax(y, 0);
  }
  EXPECT_TRUE(weak.expired());
}

TEST(ActivationMath, ExpF32MatchesLibmToAFewUlp) {
  double worst = 0;
  for (float x = -87.3f; x < 88.72f; x += 0.001373f) {
    double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::exp_f32(x) - ref) / ref);
  }
  EXPECT_LT(worst, 3e-7);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(cpu::exp_f32(0.0f), 1.0f);
  EXPECT_EQ(cpu::exp_f32(-inf), 0.0f);
  EXPECT_EQ(cpu::exp_f32(-200.0f), 0.0f);
  EXPECT_EQ(cpu::exp_f32(inf), inf);
  EXPECT_EQ(cpu::exp_f32(100.0f), inf);
  EXPECT_TRUE(std::isnan(cpu::exp_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST(ActivationMath, ErfF32MatchesLibm) {
  double worst = 0;
  for (float x = -5.0f; x < 5.0f; x += 0.000377f) {
    double ref = std::erf(static_cast<double>(x));
    // Relative near 0, absolute (in units of erf's range) elsewhere.
    worst = std::max(worst, std::abs(cpu::erf_f32(x) - ref) / std::max(std::abs(ref), 0.5));
  }
  EXPECT_LT(worst, 3e-7);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(cpu::erf_f32(0.0f), 0.0f);
  EXPECT_EQ(cpu::erf_f32(inf), 1.0f);
  EXPECT_EQ(cpu::erf_f32(-inf), -1.0f);
  EXPECT_EQ(cpu::erf_f32(1e-30f), static_cast<float>(1e-30 * 1.1283791670955126));
  EXPECT_TRUE(std::isnan(cpu::erf_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST(ActivationMath, TanhF32MatchesLibm) {
  double worst = 0;
  for (float x = -12.0f; x < 12.0f; x += 0.000731f) {
    double ref = std::tanh(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::tanh_f32(x) - ref) / std::max(std::abs(ref), 1e-30));
  }
  EXPECT_LT(worst, 5e-7);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(cpu::tanh_f32(inf), 1.0f);
  EXPECT_EQ(cpu::tanh_f32(-inf), -1.0f);
  EXPECT_EQ(cpu::tanh_f32(1e-30f), 1e-30f);
  EXPECT_TRUE(std::isnan(cpu::tanh_f32(std::numeric_limits<float>::quiet_NaN())));
}
