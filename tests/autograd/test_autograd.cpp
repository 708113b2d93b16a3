// Autograd engine tests: fan-out, views, no-grad, in-place checks, retain_graph.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;

TEST(Autograd, FanOutAccumulates) {
  Tensor x = from_vector<float>({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = sum(add(mul(x, x), x));  // x used three times
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 5, 7}));
  // Gradients accumulate across backward calls.
  sum(mul(x, 2.0)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{5, 7, 9}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, ThroughViews) {
  Tensor x = arange(0, 6, 1, {.dtype = DType::F32}).reshape({2, 3}).detach();
  x.set_requires_grad(true);
  Tensor y = sum(mul(x.t().slice(0, 0, 3, 2), 3.0));  // rows 0 and 2 of x^T
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 0, 3, 3, 0, 3}));
}

TEST(Autograd, NoGradGuardAndDetach) {
  Tensor x = ones({2}).set_requires_grad(true);
  {
    NoGradGuard g;
    Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
  }
  EXPECT_FALSE(x.detach().requires_grad());
  EXPECT_THROW(sum(x.detach()).backward(), AutogradError);
}

TEST(Autograd, InPlaceRules) {
  Tensor x = ones({3}).set_requires_grad(true);
  EXPECT_THROW(x.add_(ones({3})), AutogradError);  // leaf requiring grad
  {
    NoGradGuard g;
    x.add_(ones({3}));  // allowed: an optimizer step
  }
  EXPECT_EQ(x.to_vector<float>()[0], 2.0f);
  // Modifying a saved tensor after use is detected at backward.
  Tensor a = ones({3});
  Tensor y = mul(x, a);
  a.fill_(5.0);
  EXPECT_THROW(sum(y).backward(), AutogradError);
}

TEST(Autograd, RetainGraphAndSecondBackward) {
  Tensor x = ones({2}).set_requires_grad(true);
  Tensor y = sum(exp(x));
  y.backward(Tensor(), true);
  y.backward();
  EXPECT_NEAR(x.grad().to_vector<float>()[0], 2 * std::exp(1.0), 1e-5);
  Tensor z = sum(exp(x));
  z.backward();
  EXPECT_THROW(z.backward(), AutogradError);
}

TEST(Autograd, GradFunctionDoesNotTouchDotGrad) {
  Tensor x = from_vector<double>({1, 2}, {2}).set_requires_grad(true);
  Tensor y = sum(pow(x, 3.0));
  auto g = grad({y}, {ones({}, {.dtype = DType::F64})}, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{3, 12}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, BranchWithoutGradientDoesNotBlock) {
  // One path reaches x only through a node that gets no gradient.
  Tensor x = ones({2}).set_requires_grad(true);
  Tensor a = mul(x, 2.0);
  Tensor b = add(a, 1.0);
  Tensor y = sum(a);
  y.backward();
  (void)b;
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 2}));
}

TEST(Autograd, DeepChainDoesNotOverflow) {
  Tensor x = ones({1}).set_requires_grad(true);
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add(y, 1e-3);
  sum(y).backward();
  EXPECT_EQ(x.grad().item(), 1.0);
}
