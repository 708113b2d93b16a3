// The float32 GEMM under bf16 autocast (src/backends/cpu/bf16_gemm.h):
// against a float64 product of the bf16-rounded operands, for every
// transpose, odd shapes, padded leading dims, alpha/beta, K = 0, inside
// parallel_for, and through the emulated path that CPUs without
// AVX512_BF16 take (forced with TESSERA_NO_BF16=1).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/bf16_convert.h"
#include "backends/cpu/blas.h"
#include "tessera/core/autocast.h"
#include "tessera/core/parallel.h"

using namespace tessera;

namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
};

struct Problem {
  Case c;
  int64_t lda, ldb, ldc;
  std::vector<float> A, B, C0;  // C0: C before the call

  explicit Problem(const Case& k, unsigned seed) : c(k) {
    lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 1, ldc = c.N + 2;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    A.resize((c.ta ? c.K : c.M) * lda), B.resize((c.tb ? c.N : c.K) * ldb), C0.resize(c.M * ldc);
    for (auto& x : A) x = u(rng);
    for (auto& x : B) x = u(rng);
    for (auto& x : C0) x = c.beta == 0 ? std::numeric_limits<float>::quiet_NaN() : u(rng);  // beta 0: never read
  }
  float a(int64_t i, int64_t k, bool round) const {
    const float v = c.ta ? A[k * lda + i] : A[i * lda + k];
    return round ? cpu::bf16_to_float(cpu::round_to_bf16(v)) : v;
  }
  float b(int64_t k, int64_t j, bool round) const {
    const float v = c.tb ? B[j * ldb + k] : B[k * ldb + j];
    return round ? cpu::bf16_to_float(cpu::round_to_bf16(v)) : v;
  }
  std::vector<float> run(Precision p) const {
    std::vector<float> C = C0;
    AutocastGuard g(p);
    gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
    return C;
  }
  // Largest |C - reference| divided by the float32 accumulation bound, with
  // the reference computed in double from rounded (or unrounded) operands.
  double worst(const std::vector<float>& C, bool rounded_reference) const {
    double worst = 0;
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const double p = double(a(i, k, rounded_reference)) * b(k, j, rounded_reference);
          ref += p, mag += std::fabs(p);
        }
        const double c0 = c.beta == 0 ? 0.0 : double(C0[i * ldc + j]);
        ref = c.alpha * ref + c.beta * c0;
        // float32 sums of exact bf16 products: at most about K ulps of the magnitude.
        const double bound = 1e-30 + (double(c.K) + 4) * std::ldexp(1.0, -23) *
                                         (std::fabs(c.alpha) * mag + std::fabs(c.beta * c0));
        worst = std::max(worst, std::fabs(C[i * ldc + j] - ref) / bound);
      }
    for (int64_t i = 0; i < c.M; ++i)  // the padding between rows is untouched
      for (int64_t j = c.N; j < ldc; ++j)
        if (!(std::isnan(C[i * ldc + j]) && std::isnan(C0[i * ldc + j])) && C[i * ldc + j] != C0[i * ldc + j])
          return 1e30;
    return worst;
  }
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      out.push_back({ta, tb, 37, 29, 41, 1.0f, 0.0f});
      out.push_back({ta, tb, 7, 5, 3, 2.0f, 0.0f});
      out.push_back({ta, tb, 1, 33, 130, 0.5f, 1.0f});
      out.push_back({ta, tb, 65, 1, 17, 1.0f, -1.5f});
      out.push_back({ta, tb, 128, 96, 256, 0.125f, 0.5f});
    }
  return out;
}

struct ScopedEnv {
  explicit ScopedEnv(const char* value) { setenv("TESSERA_NO_BF16", value, 1); }
  ~ScopedEnv() { unsetenv("TESSERA_NO_BF16"); }
};

}  // namespace

TEST(Bf16Gemm, MatchesDoubleProductOfRoundedOperands) {
  unsigned seed = 1;
  for (const Case& c : cases()) {
    Problem p(c, seed++);
    const std::vector<float> C = p.run(Precision::bf16);
    EXPECT_LE(p.worst(C, true), 1.0) << "ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N
                                     << " K=" << c.K << " alpha=" << c.alpha << " beta=" << c.beta;
  }
}

TEST(Bf16Gemm, RoundsTheOperands) {
  // Against unrounded operands the bf16 result is off by far more than float32
  // accumulation explains, and the fp32 GEMM is not: autocast really applies.
  Problem p({false, true, 64, 64, 256, 1.0f, 0.0f}, 7);
  EXPECT_GT(p.worst(p.run(Precision::bf16), false), 20.0);
  EXPECT_LE(p.worst(p.run(Precision::fp32), false), 1.0);
}

TEST(Bf16Gemm, KZeroScalesC) {
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  AutocastGuard g(Precision::bf16);
  gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
  gemm(true, true, 2, 3, 0, 1.0f, nullptr, 2, nullptr, 1, 0.0f, C.data(), 3);
  EXPECT_EQ(C, std::vector<float>(6, 0.0f));
}

TEST(Bf16Gemm, InsideParallelForEachChunkGetsTheWholeProduct) {
  // Per-sample GEMMs inside worker chunks (conv, attention) run on their
  // thread alone, with primitives created for 1 thread; C starts as NaN, so
  // any part left unwritten fails.
  const int saved = get_num_threads();
  set_num_threads(2);
  std::vector<Problem> problems;
  for (unsigned s = 0; s < 4; ++s) problems.emplace_back(Case{s % 2 == 1, s >= 2, 256, 192, 128, 1.0f, 0.0f}, 100 + s);
  std::vector<std::vector<float>> results(problems.size());
  {
    AutocastGuard g(Precision::bf16);
    parallel_for(0, 4, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) results[i] = problems[i].run(autocast_precision());
    });
  }
  for (size_t i = 0; i < problems.size(); ++i) EXPECT_LE(problems[i].worst(results[i], true), 1.0) << "problem " << i;
  // The same shape outside the region (a 2-thread primitive) still agrees.
  EXPECT_LE(problems[0].worst(problems[0].run(Precision::bf16), true), 1.0);
  set_num_threads(saved);
}

TEST(Bf16Gemm, EmulatedPathGivesTheSameValues) {
  unsigned seed = 50;
  for (const Case& c : cases()) {
    Problem p(c, seed++);
    const std::vector<float> native = p.run(Precision::bf16);
    std::vector<float> emulated;
    {
      ScopedEnv off("1");
      EXPECT_FALSE(bf16_native());
      emulated = p.run(Precision::bf16);
    }
    EXPECT_LE(p.worst(emulated, true), 1.0) << "ta=" << c.ta << " tb=" << c.tb << " K=" << c.K;
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        const float x = native[i * p.ldc + j], y = emulated[i * p.ldc + j];
        ASSERT_NEAR(x, y, 1e-5f * (1 + std::fabs(x))) << "C(" << i << ", " << j << ")";
      }
  }
  ScopedEnv zero("0");  // "0" means not forced
  EXPECT_EQ(bf16_native(), cpu::cpu_has_avx512_bf16());
}

TEST(Bf16Convert, VectorAndScalarRoundingAgreeBitForBit) {
  if (!cpu::cpu_has_avx512_bf16()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.0f, 1.00390625f /* tie, even below */, 1.01171875f /* tie, odd */,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(), -1e-39f, 1.17549435e-38f, 3.14159265f};
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 1000; ++i) {  // every exponent, including subnormals and NaN payloads
    const uint32_t u = bits(rng);
    float f;
    std::memcpy(&f, &u, 4);
    x.push_back(f);
  }
  const int64_t cols = static_cast<int64_t>(x.size());  // not a multiple of 32: the masked tail runs too
  std::vector<uint16_t> vec(cols), sca(cols);
  cpu::to_bf16(x.data(), 1, cols, cols, vec.data(), true);
  cpu::to_bf16(x.data(), 1, cols, cols, sca.data(), false);
  for (int64_t i = 0; i < cols; ++i) ASSERT_EQ(vec[i], sca[i]) << "value " << x[i] << " (index " << i << ")";
  EXPECT_EQ(cpu::round_to_bf16(1.00390625f), 0x3f80);  // ties to even
  EXPECT_EQ(cpu::round_to_bf16(1.01171875f), 0x3f82);
  EXPECT_EQ(cpu::round_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
}
