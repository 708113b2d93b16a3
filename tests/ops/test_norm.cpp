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
