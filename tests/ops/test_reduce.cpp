// Reduction tests beyond the parity harness: errors name the op and shape,
// results do not depend on the thread count, and torch's tie rules.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {


Tensor randn_like_shape(const Shape& s, uint64_t seed) {
  std::vector<float> v(shape_numel(s));
  uint64_t state = seed;
  for (float& f : v) {  // a small LCG: deterministic, no dependence on the library's RNG
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    f = static_cast<float>(static_cast<int64_t>(state >> 40) % 20000) / 10000.0f - 1.0f;
  }
  return from_vector<float>(v, s);
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<float>(), y = b.to_vector<float>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(Reduce, BadDimsAreIndexErrors) {
  Tensor x = zeros({2, 3});
  expect_error<IndexError>([&] { mean(x, {2}); }, "mean");
  expect_error<IndexError>([&] { var(x, {-3}); }, "var");
  expect_error<IndexError>([&] { max(x, 5); }, "max");
  expect_error<IndexError>([&] { argmax(x, -4); }, "argmax");
  expect_error<IndexError>([&] { mean(x, {1, -1}); }, "appears more than once");
}

TEST(Reduce, DTypeErrors) {
  Tensor i = arange(0, 6).reshape({2, 3});
  expect_error<DTypeError>([&] { mean(i); }, "mean");
  expect_error<DTypeError>([&] { var(i, {0}); }, "var");
  // max and argmax work on integers (no gradient there).
  EXPECT_EQ(max(i).item(), 5.0);
  EXPECT_EQ(argmax(i, 1).to_vector<int64_t>(), (std::vector<int64_t>{2, 2}));
}

TEST(Reduce, MaxOfEmptyNeedsANonEmptyDim) {
  Tensor e = zeros({0, 3});
  expect_error<ShapeError>([&] { max(e); }, "[0, 3]");
  expect_error<IndexError>([&] { max(e, 0); }, "non-zero size");
  expect_error<IndexError>([&] { argmax(e, 0); }, "argmax");
  EXPECT_EQ(max(e, 1).shape(), (Shape{0}));
}

TEST(Reduce, NegativeCorrectionRejected) { expect_error<Error>([&] { var(zeros({3}), {0}, -1); }, "correction"); }

TEST(Reduce, MaxTiesFollowTorch) {
  // Along a dim: the first maximal index takes the whole gradient.
  Tensor x = from_vector<float>({3, 1, 3, 3}, {1, 4});
  x.set_requires_grad(true);
  max(x, 1).backward(ones({1}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1, 0, 0, 0}));
  // Over all elements: split evenly among the ties (torch 1.13).
  Tensor y = from_vector<float>({3, 1, 3, 3}, {1, 4});
  y.set_requires_grad(true);
  max(y).backward();
  auto g = y.grad().to_vector<float>();
  EXPECT_FLOAT_EQ(g[0], 1.0f / 3);
  EXPECT_FLOAT_EQ(g[1], 0.0f);
  EXPECT_FLOAT_EQ(g[3], 1.0f / 3);
}

TEST(Reduce, ResultsDoNotDependOnThreadCount) {
  const int saved = get_num_threads();
  Tensor row = randn_like_shape({3, 100003}, 1);   // long rows: blocked partial sums
  Tensor cols = randn_like_shape({5000, 37}, 2);   // column reduction
  Tensor scattered = randn_like_shape({6, 7, 8, 9}, 3);
  auto run = [&] {
    return std::vector<Tensor>{mean(row, {1}), var(row, {1}), mean(row), mean(cols, {0}), var(cols, {0}),
                               mean(scattered, {0, 2}), max(row), max(cols, 0)};
  };
  set_num_threads(1);
  auto one = run();
  set_num_threads(2);
  auto two = run();
  set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bit_equal(one[i], two[i])) << "result " << i;
}

TEST(Reduce, KeepdimShapes) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_EQ(mean(x, {0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(var(x, {1}, 1, false).shape(), (Shape{2, 4}));
  EXPECT_EQ(max(x, -1, true).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(argmax(x, 0).shape(), (Shape{3, 4}));
  EXPECT_EQ(mean(x).shape(), (Shape{}));
}

TEST(Reduce, VectorNorm) {
  Tensor x = from_vector<float>({3, -4, 0, 1}, {2, 2});
  Tensor n2 = vector_norm(x);
  EXPECT_EQ(n2.dtype(), DType::F64);
  EXPECT_EQ(n2.shape(), (Shape{}));
  EXPECT_DOUBLE_EQ(n2.item(), std::sqrt(26.0));
  EXPECT_DOUBLE_EQ(vector_norm(x, 1.0).item(), 8.0);
  EXPECT_DOUBLE_EQ(vector_norm(x, 3.0).item(), std::pow(27.0 + 64.0 + 1.0, 1.0 / 3.0));
  EXPECT_DOUBLE_EQ(vector_norm(x, std::numeric_limits<double>::infinity()).item(), 4.0);
  EXPECT_DOUBLE_EQ(vector_norm(x.t()).item(), std::sqrt(26.0));  // strided input
  EXPECT_EQ(vector_norm(zeros({0})).item(), 0.0);
  Tensor with_nan = from_vector<double>({1, std::nan(""), 2}, {3});
  EXPECT_TRUE(std::isnan(vector_norm(with_nan).item()));
  EXPECT_TRUE(std::isnan(vector_norm(with_nan, std::numeric_limits<double>::infinity()).item()));
  expect_error<DTypeError>([] { vector_norm(zeros({2}, {.dtype = DType::I64})); }, {"vector_norm", "int64"});
  expect_error<Error>([&] { vector_norm(x, 0.0); }, {"vector_norm", "positive"});
  Tensor w = randn({3}).set_requires_grad(true);
  expect_error<AutogradError>([&] { vector_norm(w); }, {"vector_norm", "not differentiable"});
  NoGradGuard no_grad;
  EXPECT_GT(vector_norm(w).item(), 0.0);
}

// float32 row sums run float partial sums over blocks of 1,024 in 64 lanes:
// every length around the lane and block boundaries must agree with a float64
// sum to float32 rounding, also with a large common offset (cancellation).
TEST(Reduce, FloatRowSumsMatchFloat64AcrossBlocks) {
  for (int64_t len : {1, 63, 64, 65, 127, 1023, 1024, 1025, 2048 + 64 + 3, 50257}) {
    for (float offset : {0.0f, 1000.0f}) {
      Tensor x = add(randn_like_shape({3, len}, static_cast<uint64_t>(len)), static_cast<double>(offset));
      Tensor got = sum(x, {-1});
      Tensor want = sum(x.to(DType::F64), {-1});
      for (int64_t r = 0; r < 3; ++r) {
        const double w = want.data<double>()[r];
        EXPECT_NEAR(got.data<float>()[r], w, 2e-7 * std::max(1.0, std::abs(w)) + 1e-6 * std::sqrt(len))
            << "len " << len << " offset " << offset << " row " << r;
      }
    }
  }
}
