// Penalties, gradient clipping and gradient accumulation. Clipping is checked
// against torch.nn.utils.clip_grad_norm_'s formula written out here
// independently (the parity family nn_loss checks it against torch itself).
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/nn/layers.h"
#include "tessera/nn/regularization.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {
Tensor leaf_with_grad(const std::vector<float>& grad) {
  Tensor p = zeros({static_cast<int64_t>(grad.size())});
  p.set_requires_grad(true);
  p.set_grad(from_vector<float>(grad, {static_cast<int64_t>(grad.size())}));
  return p;
}
}  // namespace

TEST(NnRegularization, PenaltiesValuesAndGradients) {
  Tensor a = from_vector<float>({1.f, -2.f, 0.5f}, {3}), b = from_vector<float>({-3.f, 4.f}, {2, 1});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor l1 = nn::l1_penalty({a, b}, 0.1);
  EXPECT_NEAR(l1.item(), 0.1 * 10.5, 1e-6);
  Tensor l2 = nn::l2_penalty({a, b}, 0.1);
  EXPECT_NEAR(l2.item(), 0.05 * (1 + 4 + 0.25 + 9 + 16), 1e-6);
  add(l1, l2).backward();
  // d/dw: lambda * sign(w) + lambda * w
  auto ga = a.grad().to_vector<float>();
  EXPECT_NEAR(ga[0], 0.1 + 0.1, 1e-6);
  EXPECT_NEAR(ga[1], -0.1 - 0.2, 1e-6);
  EXPECT_NEAR(ga[2], 0.1 + 0.05, 1e-6);
  auto gb = b.grad().to_vector<float>();
  EXPECT_NEAR(gb[0], -0.1 - 0.3, 1e-6);
  EXPECT_NEAR(gb[1], 0.1 + 0.4, 1e-6);
  EXPECT_EQ(nn::l1_penalty({}, 1.0).item(), 0.0);
}

TEST(NnRegularization, ClipGradNormFormula) {
  // Norms: ||(3, 4)|| = 5, ||(12)|| = 12, total 13.
  auto a = leaf_with_grad({3, 4}), b = leaf_with_grad({12}), no_grad = zeros({2});
  no_grad.set_requires_grad(true);
  double total = nn::clip_grad_norm_({a, b, no_grad}, 1.0);
  EXPECT_NEAR(total, 13.0, 1e-6);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[1], 4 * coef, 1e-7);
  EXPECT_NEAR(b.grad().item(), 12 * coef, 1e-7);
  EXPECT_FALSE(no_grad.grad().defined());

  a = leaf_with_grad({3, -4});
  b = leaf_with_grad({12});
  EXPECT_NEAR(nn::clip_grad_norm_({a, b}, 6.0, nn::kInfNorm), 12.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[1], -4 * 6.0 / (12.0 + 1e-6), 1e-6);

  a = leaf_with_grad({3, -4});
  EXPECT_NEAR(nn::clip_grad_norm_({a}, 100.0, 1.0), 7.0, 1e-6);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3, -4}));  // coef clamped to 1: unchanged

  a = leaf_with_grad({1, 2, 2});
  EXPECT_NEAR(nn::clip_grad_norm_({a}, 1.0, 3.0), std::cbrt(17.0), 1e-6);

  EXPECT_EQ(nn::clip_grad_norm_({no_grad}, 1.0), 0.0);
}

TEST(NnRegularization, ClipGradNormNonFinite) {
  auto a = leaf_with_grad({1.f, NAN});
  EXPECT_THROW(nn::clip_grad_norm_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true), Error);
  EXPECT_TRUE(std::isnan(nn::clip_grad_norm_({a}, 1.0)));
  EXPECT_TRUE(std::isnan(a.grad().to_vector<float>()[0]));  // scaled by NaN, as torch
  EXPECT_THROW(nn::clip_grad_norm_({a}, 1.0, 0.0), Error);
}

TEST(NnRegularization, ClipGradNormIndependentOfThreads) {
  manual_seed(11);
  Tensor g = randn({300000});
  double totals[2];
  int threads[2] = {1, 4};
  int prev = get_num_threads();
  for (int i = 0; i < 2; ++i) {
    set_num_threads(threads[i]);
    Tensor p = zeros({300000});
    p.set_requires_grad(true);
    p.set_grad(g.clone());
    totals[i] = nn::clip_grad_norm_({p}, 1.0);
  }
  set_num_threads(prev);
  EXPECT_EQ(totals[0], totals[1]);
}

TEST(NnRegularization, ClipGradValue) {
  auto a = leaf_with_grad({-3.f, 0.2f, 0.7f});
  nn::clip_grad_value_({a}, 0.5);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{-0.5f, 0.2f, 0.5f}));
  EXPECT_THROW(nn::clip_grad_value_({a}, -1.0), Error);
}

TEST(NnRegularization, GradientAccumulationEqualsSummedLoss) {
  manual_seed(12);
  nn::Linear m(4, 3);
  Tensor x1 = randn({5, 4}), x2 = randn({2, 4});
  auto loss = [&](const Tensor& x) { return mean(mul(m(x), m(x))); };
  // Two backward passes, no zero_grad between them.
  loss(x1).backward();
  loss(x2).backward();
  std::vector<std::vector<float>> accumulated;
  for (auto& p : m.parameters()) accumulated.push_back(p.grad().to_vector<float>());
  m.zero_grad();
  for (auto& p : m.parameters()) EXPECT_FALSE(p.grad().defined());
  add(loss(x1), loss(x2)).backward();
  auto params = m.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    auto once = params[i].grad().to_vector<float>();
    ASSERT_EQ(once.size(), accumulated[i].size());
    for (size_t j = 0; j < once.size(); ++j) EXPECT_NEAR(once[j], accumulated[i][j], 1e-6 * (1 + std::abs(once[j])));
  }
}
