// The AVX-512 dropout mask equals the one-counter-at-a-time reference bit for
// bit: every length around the 16-lane block, counters whose low word wraps
// inside a block, float and double, in place, and the keep threshold at the
// edges (p = 1 keeps nothing).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/cpu/dropout_mask.h"
#include "kernels/dropout.h"

using namespace tessera;

namespace {

template <typename T>
std::vector<T> ramp(int64_t n) {
  std::vector<T> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<T>(0.25 + 0.01 * static_cast<double>(i));
  return x;
}

template <typename T>
void expect_paths_agree(int64_t n, uint64_t counter0, uint64_t seed, double p) {
  const T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
  auto x = ramp<T>(n);
  std::vector<T> fast(static_cast<size_t>(n), T(-7)), ref(static_cast<size_t>(n), T(-7));
  cpu::apply_dropout(fast.data(), x.data(), n, counter0, seed, p, scale);
  cpu::apply_dropout_scalar(ref.data(), x.data(), n, counter0, seed, p, scale);
  ASSERT_EQ(0, std::memcmp(fast.data(), ref.data(), sizeof(T) * static_cast<size_t>(n)))
      << "n " << n << " counter0 " << counter0 << " p " << p;
  for (int64_t i = 0; i < n; ++i)  // and both are dropout_keep's mask
    ASSERT_EQ(ref[static_cast<size_t>(i)] != T(0), dropout_keep(counter0 + static_cast<uint64_t>(i), seed, p)) << i;
}

}  // namespace

TEST(DropoutMask, VectorPathEqualsScalarForEveryTailLength) {
  if (!cpu::dropout_uses_avx512()) GTEST_SKIP() << "no AVX-512 here: apply_dropout is the scalar path";
  for (int64_t n = 0; n <= 70; ++n) {
    expect_paths_agree<float>(n, 1000, 77, 0.3);
    expect_paths_agree<double>(n, 1000, 77, 0.3);
  }
}

TEST(DropoutMask, CounterCarryIntoTheHighWord) {
  // Low words 0xFFFFFFF8.. wrap to 0 inside one 16-lane block.
  for (uint64_t c : {0xFFFFFFF8ull, (5ull << 32) - 3, (1ull << 40) - 15, ~0ull - 40}) {
    expect_paths_agree<float>(53, c, 0xFFFFFFFFFFFFull, 0.5);
    expect_paths_agree<double>(53, c, 0xFFFFFFFFFFFFull, 0.5);
  }
}

TEST(DropoutMask, ThresholdEdgesAndInPlace) {
  for (double p : {1e-9, 0.1, 0.5, 0.999999, 1.0}) expect_paths_agree<float>(1000, 12345, 9, p);
  std::vector<float> x(100, 1.0f);
  cpu::apply_dropout(x.data(), x.data(), 100, 0, 3, 1.0, 0.0f);  // p = 1: nothing kept
  for (float v : x) EXPECT_EQ(v, 0.0f);
  auto y = ramp<float>(333), want = y;
  cpu::apply_dropout_scalar(want.data(), want.data(), 333, 42, 5, 0.4, 1.0f / 0.6f);
  cpu::apply_dropout(y.data(), y.data(), 333, 42, 5, 0.4, 1.0f / 0.6f);
  EXPECT_EQ(y, want);
}
