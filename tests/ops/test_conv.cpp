// Convolution and pooling beyond the parity harness: error messages for bad
// shapes and options, NaN propagation in max pooling, pooled output sizes at
// the ceil_mode edge, and determinism of the conv2d weight gradient.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <limits>
#include <string>

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;


TEST(Conv2d, ErrorsNameTheOpAndShapes) {
  Tensor x = zeros({2, 3, 5, 5});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 2, 3, 3})); }, {"conv2d", "[2, 3, 5, 5]", "[4, 2, 3, 3]", "channels"});
  expect_error<ShapeError>([&] { conv2d(zeros({2, 4, 5, 5}), zeros({3, 2, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 2); },
                           {"conv2d", "divisible by groups=2"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 7, 3})); }, {"conv2d", "smaller than the dilated kernel"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {0, 0}, {3, 3}); },
                           {"conv2d", "dilation (3, 3)"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {0, 1}); }, {"conv2d", "stride", "(0, 1)"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {-1, 0}); }, {"conv2d", "padding"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 0); },
                           {"conv2d", "groups"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 3})); }, {"conv2d", "weight must be 4-D"});
  expect_error<ShapeError>([&] { conv2d(zeros({5, 5}), zeros({4, 3, 3, 3})); }, {"conv2d", "input must be", "[5, 5]"});
  expect_error<ShapeError>([&] { conv2d(x, zeros({4, 3, 3, 3}), zeros({3})); }, {"conv2d", "bias", "[4]", "[3]"});
  expect_error<DTypeError>([&] { conv2d(x, zeros({4, 3, 3, 3}, {.dtype = DType::F64})); }, {"conv2d", "float64"});
  expect_error<DTypeError>([&] { conv2d(zeros({2, 3, 5, 5}, {.dtype = DType::I64}), zeros({4, 3, 3, 3})); },
                           {"conv2d", "int64"});
}

TEST(Pool2d, ErrorsNameTheOpAndShapes) {
  Tensor x = zeros({2, 3, 5, 5});
  expect_error<ShapeError>([&] { max_pool2d(x, {2, 2}, {1, 1}, {2, 0}); }, {"max_pool2d", "padding (2, 0)", "half"});
  expect_error<ShapeError>([&] { avg_pool2d(x, {3, 3}, {1, 1}, {0, 2}); }, {"avg_pool2d", "half"});
  expect_error<ShapeError>([&] { max_pool2d(x, {6, 6}); }, {"max_pool2d", "too small", "[2, 3, 5, 5]"});
  expect_error<ShapeError>([&] { max_pool2d(x, {3, 3}, {1, 1}, {0, 0}, {3, 3}); }, {"max_pool2d", "too small"});
  expect_error<ShapeError>([&] { avg_pool2d(zeros({5, 5}), {2, 2}); }, {"avg_pool2d", "[5, 5]"});
  expect_error<ShapeError>([&] { max_pool2d(zeros({2, 0, 5, 5}), {2, 2}); }, {"max_pool2d", "non-zero"});
  expect_error<ShapeError>([&] { max_pool2d(x, {0, 2}); }, {"max_pool2d", "kernel size"});
  expect_error<ShapeError>([&] { max_pool2d(x, {2, 2}, {1, 1}, {0, 0}, {0, 1}); }, {"max_pool2d", "dilation"});
  expect_error<DTypeError>([&] { avg_pool2d(zeros({1, 1, 4, 4}, {.dtype = DType::I64}), {2, 2}); },
                           {"avg_pool2d", "int64"});
}

TEST(Pool2d, CeilModeDropsAWindowStartingInThePadding) {
  // in = 5, k = 2, s = 2, pad = 1, ceil: floor((5 + 2 - 2 + 1) / 2) + 1 = 4, but the 4th window
  // would start at 3 * 2 = 6 >= in + pad: PyTorch drops it, giving 3.
  EXPECT_EQ(max_pool2d(zeros({1, 1, 5, 5}), {2, 2}, {2, 2}, {1, 1}, {1, 1}, true).shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(avg_pool2d(zeros({1, 1, 6, 6}), {2, 2}, {2, 2}, {0, 0}, true).shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(avg_pool2d(zeros({1, 1, 7, 7}), {2, 2}, {2, 2}, {0, 0}, true).shape(), (Shape{1, 1, 4, 4}));
}

TEST(Pool2d, MaxPoolPropagatesNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = from_vector<float>({1, nan, 3, 4}, {1, 1, 2, 2});
  EXPECT_TRUE(std::isnan(max_pool2d(x, {2, 2}).item()));
  Tensor y = from_vector<float>({1, 2, -INFINITY, -INFINITY}, {1, 1, 2, 2});
  EXPECT_EQ(max_pool2d(y, {1, 2}).to_vector<float>(), (std::vector<float>{2, -INFINITY}));
}

// max_pool2d's vectorized path (every window inside the input) against a
// plain window scan: ties keep the first maximum, a later NaN replaces an
// earlier one; the gradient shows which index each window chose.
TEST(Pool2d, MaxPoolInsideWindowsMatchAWindowScan) {
  const int64_t P = 3, H = 9, W = 11, k = 3, s = 2, d = 1;
  for (int64_t dil : {d, int64_t{2}}) {
    std::vector<float> v(P * H * W);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 5);  // many ties
    v[20] = v[57] = v[58] = std::numeric_limits<float>::quiet_NaN();
    Tensor x = from_vector<float>(v, {1, P, H, W}).set_requires_grad(true);
    Tensor y = max_pool2d(x, {k, k}, {s, s}, {0, 0}, {dil, dil});
    const int64_t Ho = y.size(2), Wo = y.size(3);
    Tensor g = ones(y.shape());
    y.backward(g);
    std::vector<float> want_y, want_gx(v.size(), 0.0f);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          float best = -INFINITY;
          int64_t bi = p * H * W + oh * s * W + ow * s;
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
              const int64_t at = p * H * W + (oh * s + i * dil) * W + ow * s + j * dil;
              if (v[at] > best || std::isnan(v[at])) best = v[at], bi = at;
            }
          want_y.push_back(best);
          want_gx[bi] += 1.0f;
        }
    const std::vector<float> got_y = y.to_vector<float>();
    ASSERT_EQ(got_y.size(), want_y.size());
    for (size_t i = 0; i < got_y.size(); ++i)
      EXPECT_TRUE(got_y[i] == want_y[i] || (std::isnan(got_y[i]) && std::isnan(want_y[i]))) << "output " << i;
    EXPECT_EQ(x.grad().to_vector<float>(), want_gx) << "dilation " << dil;
  }
}

TEST(Conv2d, WeightGradientBitIdenticalRunToRun) {
  Generator gen(11);
  Tensor x = randn({6, 4, 9, 9}, gen);
  Tensor w = randn({8, 4, 3, 3}, gen).set_requires_grad(true);
  auto run = [&] {
    w.zero_grad();
    sum(mul(conv2d(x, w, Tensor(), {1, 1}, {1, 1}), x.slice(1, 0, 1).expand({6, 8, 9, 9}))).backward();
    return w.grad().to_vector<float>();
  };
  EXPECT_EQ(run(), run());
}

TEST(Conv2d, OnlyRequestedGradients) {
  Tensor x = ones({1, 2, 4, 4}).set_requires_grad(true);
  Tensor w = ones({3, 2, 3, 3});
  Tensor b = zeros({3}).set_requires_grad(true);
  sum(conv2d(x, w, b)).backward();
  EXPECT_FALSE(w.grad().defined());
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{4, 4, 4}));
  // Corner pixels are in one window per output channel, the centre ones in four.
  EXPECT_EQ(x.grad().to_vector<float>()[0], 3.0f);
  EXPECT_EQ(x.grad().to_vector<float>()[5], 12.0f);
}
