// Conv2d / MaxPool2d / AvgPool2d modules: torch's parameter names, shapes and
// default init bounds, output shapes, and errors naming the module and shapes.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>

#include "tessera/nn/conv.h"
#include "tessera/nn/layers.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;


TEST(NnConv2d, NamesShapesAndDefaultInit) {
  manual_seed(3);
  nn::Conv2d m(nn::Conv2dOptions{6, 8, {3, 2}, {1, 1}, {0, 0}, {1, 1}, 2, true});
  auto named = m.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[0].second.shape(), (Shape{8, 3, 3, 2}));
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_EQ(named[1].second.shape(), (Shape{8}));
  // fan_in = C_in / groups * kH * kW = 3 * 3 * 2; both bounds are 1 / sqrt(fan_in).
  const double bound = 1.0 / std::sqrt(18.0);
  for (const Tensor& t : {m.weight, m.bias}) {
    auto v = t.to_vector<double>();
    double lo = 1, hi = -1;
    for (double x : v) {
      EXPECT_LE(std::abs(x), bound + 1e-7);
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    EXPECT_GT(hi - lo, bound * 0.5);  // actually spread over the range
  }
  nn::Conv2d nobias(3, 4, 3, 1, 0, false);
  EXPECT_EQ(nobias.state_dict().count("bias"), 0u);
  EXPECT_EQ(nobias.state_dict().count("weight"), 1u);
}

TEST(NnConv2d, OutputShapes) {
  nn::Conv2d m(3, 8, 3, 2, 1);
  EXPECT_EQ(m(randn({2, 3, 8, 8})).shape(), (Shape{2, 8, 4, 4}));
  EXPECT_EQ(m(randn({3, 7, 7})).shape(), (Shape{8, 4, 4}));
  nn::MaxPool2d mp(2);
  EXPECT_EQ(mp(randn({2, 3, 8, 7})).shape(), (Shape{2, 3, 4, 3}));
  nn::AvgPool2d ap(3, 1, 1);
  EXPECT_EQ(ap(randn({2, 3, 8, 7})).shape(), (Shape{2, 3, 8, 7}));
}

TEST(NnConv2d, WrongChannelsNamesModuleAndShapes) {
  nn::Conv2d m(3, 8, 3);
  std::string msg = error_of<ShapeError>([&] { m(randn({2, 4, 8, 8})); });
  EXPECT_TRUE(has(msg, "Conv2d(3, 8, kernel_size=(3, 3)")) << msg;
  EXPECT_TRUE(has(msg, "[2, 4, 8, 8]")) << msg;
  EXPECT_TRUE(has(msg, "expected 3")) << msg;
  EXPECT_TRUE(has(msg, "[8, 3, 3, 3]")) << msg;
  msg = error_of<ShapeError>([&] { m(randn({8, 8})); });
  EXPECT_TRUE(has(msg, "Conv2d") && has(msg, "[8, 8]")) << msg;
  // Too small for the kernel: the op's geometry error.
  EXPECT_THROW(m(randn({1, 3, 2, 2})), ShapeError);
}

TEST(NnConv2d, BadOptions) {
  std::string msg = error_of<ShapeError>([] { nn::Conv2d(nn::Conv2dOptions{3, 4, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 2}); });
  EXPECT_TRUE(has(msg, "in_channels 3 must be divisible by groups 2")) << msg;
  EXPECT_THROW(nn::Conv2d(nn::Conv2dOptions{4, 3, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 2}), ShapeError);
  EXPECT_THROW(nn::Conv2d(nn::Conv2dOptions{4, 4, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 0}), ShapeError);
  EXPECT_THROW(nn::Conv2d(0, 4, 3), ShapeError);
  EXPECT_THROW(nn::Conv2d(nn::Conv2dOptions{4, 4, {0, 3}}), ShapeError);
}

TEST(NnPool2d, BadInputNamesModule) {
  nn::MaxPool2d mp(2);
  std::string msg = error_of<ShapeError>([&] { mp(randn({4, 4})); });
  EXPECT_TRUE(has(msg, "MaxPool2d") && has(msg, "[4, 4]")) << msg;
  nn::AvgPool2d ap(2);
  msg = error_of<ShapeError>([&] { ap(randn({1, 2, 3, 4, 4})); });
  EXPECT_TRUE(has(msg, "AvgPool2d") && has(msg, "[1, 2, 3, 4, 4]")) << msg;
}

TEST(NnConv2d, SmallCnnTrainsEndToEnd) {
  // Conv -> ReLU -> pool -> flatten -> linear: the gradient reaches every parameter.
  manual_seed(0);
  auto conv = std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1);
  nn::Sequential net({conv, std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
                      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 3 * 3, 2)});
  Tensor y = net(randn({2, 1, 6, 6}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  sum(y).backward();
  for (auto& [n, p] : net.named_parameters()) EXPECT_TRUE(p.grad().defined()) << n;
}
