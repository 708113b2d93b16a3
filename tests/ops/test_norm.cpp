// layer_norm / rms_norm tests beyond the parity harness: argument errors name
// the op and the shapes, and gradients do not depend on the thread count.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cstring>

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {


Tensor pattern(const Shape& s, float scale) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * static_cast<float>((i * 7919) % 1013) / 1013.0f - 0.5f;
  return from_vector<float>(v, s);
}

}  // namespace

TEST(Norm, NormalizedShapeMustMatchTrailingDims) {
  Tensor x = zeros({2, 3, 4});
  expect_error<ShapeError>([&] { layer_norm(x, {3}); }, "layer_norm: normalized_shape [3]");
  expect_error<ShapeError>([&] { layer_norm(x, {2, 3, 4, 5}); }, "[2, 3, 4]");
  expect_error<ShapeError>([&] { rms_norm(x, {5}); }, "rms_norm");
  expect_error<ShapeError>([&] { layer_norm(x, {}); }, "at least one dim");
  EXPECT_NO_THROW(layer_norm(x, {3, 4}));
}

TEST(Norm, ParameterShapesAndDTypes) {
  Tensor x = zeros({2, 4});
  expect_error<ShapeError>([&] { layer_norm(x, {4}, zeros({3})); }, "weight of shape [3]");
  expect_error<ShapeError>([&] { layer_norm(x, {4}, zeros({4}), zeros({4, 1})); }, "bias of shape [4, 1]");
  expect_error<ShapeError>([&] { rms_norm(x, {4}, zeros({2, 4})); }, "rms_norm: weight");
  expect_error<DTypeError>([&] { layer_norm(x, {4}, zeros({4}, {.dtype = DType::F64})); }, "weight is float64");
  expect_error<DTypeError>([&] { layer_norm(arange(0, 4), {4}); }, "layer_norm");
}

TEST(Norm, GradientsDoNotDependOnThreadCount) {
  const int saved = get_num_threads();
  auto run = [] {
    Tensor x = pattern({257, 96}, 3.0f), w = pattern({96}, 1.0f), b = pattern({96}, 0.5f);
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    Tensor g = pattern({257, 96}, 2.0f);
    layer_norm(x, {96}, w, b).backward(g);
    Tensor w2 = pattern({96}, 1.5f);
    w2.set_requires_grad(true);
    rms_norm(x.detach(), {96}, w2).backward(g);
    return std::vector<Tensor>{x.grad(), w.grad(), b.grad(), w2.grad()};
  };
  set_num_threads(1);
  auto one = run();
  set_num_threads(2);
  auto two = run();
  set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) {
    auto a = one[i].to_vector<float>(), c = two[i].to_vector<float>();
    EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)), 0) << "gradient " << i;
  }
}

TEST(Norm, NoAffineGradientsOnlyForX) {
  Tensor x = pattern({4, 8}, 1.0f);
  Tensor w = pattern({8}, 1.0f);  // does not require grad
  x.set_requires_grad(true);
  layer_norm(x, {8}, w).backward(ones({4, 8}));
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  // Summing a normalized row's outputs (no affine) is constant: zero gradient.
  Tensor z = pattern({4, 8}, 1.0f);
  z.set_requires_grad(true);
  layer_norm(z, {8}).backward(ones({4, 8}));
  for (float v : z.grad().to_vector<float>()) EXPECT_NEAR(v, 0.0f, 1e-5);
}

// add_layer_norm / add_rms_norm against add() then the norm: the same values
// (bit for bit: the same float operations) and the same gradients, whether
// the sum, the normalized output or both reach the loss.
TEST(Norm, AddNormMatchesAddThenNorm) {
  enum Use { kBoth, kOnlyY, kOnlySum };
  for (bool rms : {false, true}) {
    for (Use use : {kBoth, kOnlyY, kOnlySum}) {
      auto run = [&](bool fused) {
        Tensor x = pattern({33, 40}, 3.0f), r = pattern({33, 40}, -2.0f);
        Tensor w = pattern({40}, 1.5f), b = pattern({40}, 0.5f);
        for (Tensor* t : {&x, &r, &w, &b}) t->set_requires_grad(true);
        Tensor s, y;
        if (fused) {
          AddNormResult o = rms ? add_rms_norm(x, r, {40}, w) : add_layer_norm(x, r, {40}, w, b);
          s = o.sum;
          y = o.y;
        } else {
          s = add(x, r);
          y = rms ? rms_norm(s, {40}, w) : layer_norm(s, {40}, w, b);
        }
        Tensor loss;
        if (use != kOnlySum) loss = sum(mul(y, pattern({33, 40}, 1.0f)));
        if (use != kOnlyY) {
          Tensor ls = sum(mul(s, pattern({33, 40}, -0.7f)));
          loss = loss.defined() ? add(loss, ls) : ls;
        }
        loss.backward();
        return std::vector<Tensor>{s, y, x.grad(), r.grad(), w.grad(), rms ? Tensor() : b.grad()};
      };
      const std::vector<Tensor> a = run(true), c = run(false);
      const std::string what = std::string(rms ? "rms" : "layer") + " use " + std::to_string(use);
      EXPECT_EQ(max_abs_diff(a[0], c[0]), 0.0) << what;
      EXPECT_EQ(max_abs_diff(a[1], c[1]), 0.0) << what;
      for (size_t i = 2; i < a.size(); ++i) {
        ASSERT_EQ(a[i].defined(), c[i].defined()) << what << " gradient " << i;
        if (!a[i].defined()) continue;
        EXPECT_LT(max_abs_diff(a[i], c[i]), 1e-6) << what << " gradient " << i;
      }
    }
  }
}

TEST(Norm, AddNormChecksResidual) {
  Tensor x = pattern({4, 8}, 1.0f);
  expect_error<Error>([&] { add_layer_norm(x, Tensor(), {8}); }, {"add_layer_norm", "residual"});
  expect_error<ShapeError>([&] { add_rms_norm(x, pattern({4, 3}, 1.0f), {8}); }, {"[4, 3]"});
}
