// Dropout: the mask depends only on (seed, offset) and the element index --
// identical at 1 and 2 threads, in the old layout equal to rand() >= p, in
// the default one four elements per Philox counter -- keeps ~1 - p of the
// elements, and backward reuses the forward's mask.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/ops/dropout_layout.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

std::vector<float> dropout_at(int threads, const Tensor& x, double p, uint64_t seed) {
  const int before = get_num_threads();
  set_num_threads(threads);
  Generator gen(seed);
  auto v = dropout(x, p, true, gen).to_vector<float>();
  set_num_threads(before);
  return v;
}

}  // namespace

TEST(Dropout, SameMaskForAnyThreadCount) {
  Tensor x = ones({300, 1000});
  EXPECT_EQ(dropout_at(1, x, 0.3, 77), dropout_at(2, x, 0.3, 77));
}

TEST(Dropout, KeepRateAndScale) {
  const int64_t n = 1 << 20;
  for (double p : {0.1, 0.5, 0.9}) {
    Generator gen(1234);
    auto v = dropout(ones({n}), p, true, gen).to_vector<float>();
    int64_t kept = 0;
    for (float e : v) {
      if (e != 0.0f) {
        ++kept;
        EXPECT_FLOAT_EQ(e, static_cast<float>(1.0 / (1.0 - p)));
      }
    }
    const double rate = static_cast<double>(kept) / n;
    const double sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(rate, 1.0 - p, 6 * sd) << "p = " << p;
  }
}

TEST(Dropout, MaskIsRandAtTheSameStateInTheOldLayout) {
  DropoutMaskLayoutScope old(DropoutMaskLayout::kWord0PerCounter);  // what runs saved before the layout use
  Generator a(5), b(5);
  a.set_state(5, 1000);
  b.set_state(5, 1000);
  auto d = dropout(ones({4097}), 0.4, true, a).to_vector<float>();
  auto u = rand({4097}, b).to_vector<float>();
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i] != 0.0f, u[i] >= 0.4f) << i;
  EXPECT_EQ(a.offset(), b.offset());  // both reserved numel counters
}

TEST(Dropout, DefaultLayoutTakesFourElementsFromEachCounter) {
  ASSERT_EQ(dropout_mask_layout(), DropoutMaskLayout::kFourWordsPerCounter);
  Generator gen(5);
  gen.set_state(5, 1001);
  auto d = dropout(ones({4097}), 0.4, true, gen).to_vector<float>();
  for (size_t i = 0; i < d.size(); ++i)
    EXPECT_EQ(d[i] != 0.0f, uint_to_unit_float(philox4x32(1001 + i / 4, 5)[i % 4]) >= 0.4f) << i;
  EXPECT_EQ(gen.offset(), 1001u + 4097u);  // numel counters reserved, as in the old layout
}

TEST(Dropout, BackwardKeepsTheForwardsLayout) {
  Tensor x = ones({300}).set_requires_grad(true);
  Generator gen(3);
  Tensor y;
  {
    DropoutMaskLayoutScope old(DropoutMaskLayout::kWord0PerCounter);
    y = dropout(x, 0.5, true, gen);
  }
  y.backward(ones({300}));  // in the default layout now: the mask must still be the forward's
  EXPECT_EQ(x.grad().to_vector<float>(), y.to_vector<float>());
}

TEST(Dropout, ConsecutiveCallsDrawFreshMasks) {
  Generator gen(8);
  auto m1 = dropout(ones({1000}), 0.5, true, gen).to_vector<float>();
  auto m2 = dropout(ones({1000}), 0.5, true, gen).to_vector<float>();
  EXPECT_NE(m1, m2);
}

TEST(Dropout, BackwardUsesTheForwardMask) {
  Generator gen(21);
  Tensor x = randn({50, 40}).set_requires_grad(true);
  Tensor y = dropout(x, 0.35, true, gen);
  y.backward(ones({50, 40}));
  auto yv = y.to_vector<float>(), gv = x.grad().to_vector<float>();
  const float scale = static_cast<float>(1.0 / 0.65);
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(gv[i], yv[i] != 0.0f ? scale : 0.0f) << i;
}

TEST(Dropout, IdentityCasesAndErrors) {
  Generator gen(1);
  Tensor x = randn({3, 3});
  EXPECT_TRUE(dropout(x, 0.5, false, gen).is_same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, gen).is_same(x));
  EXPECT_EQ(gen.offset(), 0u);  // nothing drawn
  EXPECT_THROW(dropout(x, 1.5, true, gen), Error);
  EXPECT_THROW(dropout(ones({2}, {.dtype = DType::I64}), 0.5, true, gen), DTypeError);
}
