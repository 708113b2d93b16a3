// The AVX-512 dropout mask equals the one-counter-at-a-time reference bit for
// bit, in both mask layouts: every length around the 16- and 64-element
// blocks, runs starting at every position within a counter's four elements,
// counters whose low word (or the whole 64 bits) wraps inside a block, float
// and double, in place, and the keep threshold at the edges (p = 1 keeps
// nothing). Both paths are dropout_keep's mask, and the layouts map elements
// to Philox words as tessera/ops/dropout_layout.h says.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/cpu/dropout_mask.h"
#include "kernels/dropout.h"

using namespace tessera;

namespace {

constexpr DropoutMaskLayout kLayouts[] = {DropoutMaskLayout::kWord0PerCounter, DropoutMaskLayout::kFourWordsPerCounter};

template <typename T>
std::vector<T> ramp(int64_t n) {
  std::vector<T> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<T>(0.25 + 0.01 * static_cast<double>(i));
  return x;
}

template <typename T>
void expect_paths_agree(int64_t n, const DropoutMask& m, uint64_t first) {
  const T scale = m.p < 1.0 ? static_cast<T>(1.0 / (1.0 - m.p)) : T(0);
  auto x = ramp<T>(n);
  std::vector<T> fast(static_cast<size_t>(n), T(-7)), ref(static_cast<size_t>(n), T(-7));
  cpu::apply_dropout(fast.data(), x.data(), n, m, first, scale);
  cpu::apply_dropout_scalar(ref.data(), x.data(), n, m, first, scale);
  // n == 0 leaves both vectors without storage (data() may be null, which memcmp must not see).
  if (n > 0) {
    ASSERT_EQ(0, std::memcmp(fast.data(), ref.data(), sizeof(T) * static_cast<size_t>(n)))
        << "n " << n << " offset " << m.offset << " first " << first << " p " << m.p << " layout "
        << dropout_mask_layout_name(m.layout);
  }
  for (int64_t i = 0; i < n; ++i)  // and both are dropout_keep's mask
    ASSERT_EQ(ref[static_cast<size_t>(i)] != T(0), dropout_keep(m, first + static_cast<uint64_t>(i)))
        << i << " layout " << dropout_mask_layout_name(m.layout);
}

}  // namespace

TEST(DropoutMask, VectorPathEqualsScalarForEveryTailLength) {
  if (!cpu::dropout_uses_avx512()) GTEST_SKIP() << "no AVX-512 here: apply_dropout is the scalar path";
  for (DropoutMaskLayout layout : kLayouts) {
    for (uint64_t first : {0, 1, 2, 3, 5, 66, 127}) {
      for (int64_t n = 0; n <= 70; ++n) {
        expect_paths_agree<float>(n, {77, 1000, 0.3, layout}, first);
        expect_paths_agree<double>(n, {77, 1000, 0.3, layout}, first);
      }
    }
    for (int64_t n : {127, 128, 129, 200, 1000}) {
      expect_paths_agree<float>(n, {77, 999, 0.3, layout}, 2);
      expect_paths_agree<double>(n, {77, 999, 0.3, layout}, 2);
    }
  }
}

TEST(DropoutMask, CounterCarryIntoTheHighWord) {
  // Low words 0xFFFFFFF8.. wrap to 0 inside one 16-lane block; the last one
  // wraps the whole 64-bit counter.
  for (DropoutMaskLayout layout : kLayouts) {
    for (uint64_t c : {0xFFFFFFF8ull, (5ull << 32) - 3, (1ull << 40) - 15, ~0ull - 40, ~0ull - 5}) {
      for (uint64_t first : {0, 1, 3}) {
        expect_paths_agree<float>(53, {0xFFFFFFFFFFFFull, c, 0.5, layout}, first);
        expect_paths_agree<double>(53, {0xFFFFFFFFFFFFull, c, 0.5, layout}, first);
        expect_paths_agree<float>(200, {0xFFFFFFFFFFFFull, c, 0.5, layout}, first);
      }
    }
  }
}

TEST(DropoutMask, ThresholdEdgesAndInPlace) {
  for (DropoutMaskLayout layout : kLayouts) {
    for (double p : {1e-9, 0.1, 0.5, 0.999999, 1.0}) expect_paths_agree<float>(1000, {9, 12345, p, layout}, 0);
    std::vector<float> x(100, 1.0f);
    cpu::apply_dropout(x.data(), x.data(), 100, {3, 0, 1.0, layout}, 0, 0.0f);  // p = 1: nothing kept
    for (float v : x) EXPECT_EQ(v, 0.0f);
    auto y = ramp<float>(333), want = y;
    cpu::apply_dropout_scalar(want.data(), want.data(), 333, {5, 42, 0.4, layout}, 1, 1.0f / 0.6f);
    cpu::apply_dropout(y.data(), y.data(), 333, {5, 42, 0.4, layout}, 1, 1.0f / 0.6f);
    EXPECT_EQ(y, want);
  }
}

TEST(DropoutMask, LayoutsUseTheDocumentedPhiloxWords) {
  // words4: element i <- word i % 4 of counter offset + i / 4; word0: word 0 of offset + i.
  const uint64_t seed = 31, offset = 500;
  for (uint64_t i = 0; i < 64; ++i) {
    const double p = 0.5;
    const auto w = philox4x32(offset + i / 4, seed);
    EXPECT_EQ(dropout_keep({seed, offset, p, DropoutMaskLayout::kFourWordsPerCounter}, i),
              uint_to_unit_float(w[i % 4]) >= p)
        << i;
    EXPECT_EQ(dropout_keep({seed, offset, p, DropoutMaskLayout::kWord0PerCounter}, i),
              uint_to_unit_float(philox4x32(offset + i, seed)[0]) >= p)
        << i;
  }
  // The layouts really differ, and a run that starts mid-counter continues the call's mask.
  std::vector<float> a(256, 1.0f), b(256, 1.0f), c(256, 1.0f);
  cpu::apply_dropout(a.data(), a.data(), 256, {1, 0, 0.5, DropoutMaskLayout::kWord0PerCounter}, 0, 2.0f);
  cpu::apply_dropout(b.data(), b.data(), 256, {1, 0, 0.5, DropoutMaskLayout::kFourWordsPerCounter}, 0, 2.0f);
  EXPECT_NE(a, b);
  cpu::apply_dropout(c.data(), c.data(), 7, {1, 0, 0.5, DropoutMaskLayout::kFourWordsPerCounter}, 0, 2.0f);
  cpu::apply_dropout(c.data() + 7, c.data() + 7, 249, {1, 0, 0.5, DropoutMaskLayout::kFourWordsPerCounter}, 7, 2.0f);
  EXPECT_EQ(b, c);
}

TEST(DropoutMask, LayoutNamesRoundTrip) {
  for (DropoutMaskLayout layout : kLayouts)
    EXPECT_EQ(parse_dropout_mask_layout(dropout_mask_layout_name(layout)), layout);
  EXPECT_STREQ(dropout_mask_layout_name(DropoutMaskLayout::kFourWordsPerCounter), "philox4x32_words4");
  EXPECT_STREQ(dropout_mask_layout_name(DropoutMaskLayout::kWord0PerCounter), "philox4x32_word0");
  EXPECT_THROW(parse_dropout_mask_layout("philox4x32_words8"), Error);
  EXPECT_EQ(dropout_mask_layout(), DropoutMaskLayout::kFourWordsPerCounter);  // the default
  {
    DropoutMaskLayoutScope old(DropoutMaskLayout::kWord0PerCounter);
    EXPECT_EQ(dropout_mask_layout(), DropoutMaskLayout::kWord0PerCounter);
  }
  EXPECT_EQ(dropout_mask_layout(), DropoutMaskLayout::kFourWordsPerCounter);
}
