// Philox4x32-10 in 16 AVX-512 lanes for dropout masks. The scalar call costs
// about 13 ns per element here (the 32x32->64-bit multiplies run one at a
// time); sixteen counters per instruction bring the mask to under 2 ns per
// element (dev/dropout/). The lanes compute the very same function as
// philox4x32() (src/core/random.cpp): each 32x32 multiply's high and low
// halves come from two vpmuludq (even and odd lanes) and two blends.
//
// Only the first of the four output words is used, one counter per element,
// because that is the mapping every saved run and the parity reference
// (tests/parity/cases/_philox.py) were made with: a run resumed from an older
// checkpoint keeps drawing the masks it would have drawn.
#include "backends/cpu/dropout_mask.h"

#include <immintrin.h>

#include <cmath>

#include "kernels/dropout.h"

namespace tessera::cpu {
namespace {

// keep iff (word >> 8) >= threshold: the same as float(word >> 8) / 2^24 >= p
// in double, since p * 2^24 is exact and (word >> 8) is an integer.
uint32_t keep_threshold(double p) { return static_cast<uint32_t>(std::ceil(p * 16777216.0)); }

template <typename T>
void scalar_run(T* out, const T* in, int64_t n, uint64_t counter0, uint64_t seed, double p, T scale) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = dropout_keep(counter0 + static_cast<uint64_t>(i), seed, p) ? in[i] * scale : T(0);
}

#define TSR_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

// hi and lo 32 bits of a * m per 32-bit lane.
TSR_AVX512 inline void mul_hi_lo(__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(a, m);                         // lanes 0, 2, ..: 64-bit products
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);  // lanes 1, 3, ..
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

// Bit l of the result: whether counter (first + l) is kept, for l < 16.
TSR_AVX512 inline __mmask16 keep_mask16(uint64_t first, const uint32_t* round_k0, const uint32_t* round_k1,
                                        __m512i threshold) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i base_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first)));
  __m512i c0 = _mm512_add_epi32(base_lo, iota);
  // The 64-bit counter's high word, plus the carry where the low word wrapped.
  const __mmask16 carry = _mm512_cmplt_epu32_mask(c0, base_lo);
  __m512i c1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first >> 32)));
  c1 = _mm512_mask_add_epi32(c1, carry, c1, _mm512_set1_epi32(1));
  __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int round = 0; round < 10; ++round) {
    __m512i hi0, lo0, hi1, lo1;
    mul_hi_lo(c0, m0, hi0, lo0);
    mul_hi_lo(c2, m1, hi1, lo1);
    const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(round_k0[round])));
    const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(round_k1[round])));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return _mm512_cmpge_epu32_mask(_mm512_srli_epi32(c0, 8), threshold);
}

struct RoundKeys {
  uint32_t k0[10], k1[10];
  explicit RoundKeys(uint64_t seed) {
    uint32_t a = static_cast<uint32_t>(seed), b = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r, a += 0x9E3779B9u, b += 0xBB67AE85u) {
      k0[r] = a;
      k1[r] = b;
    }
  }
};

TSR_AVX512 void avx512_run(float* out, const float* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                           float scale) {
  const RoundKeys keys(seed);
  const __m512i threshold = _mm512_set1_epi32(static_cast<int>(keep_threshold(p)));
  const __m512 s = _mm512_set1_ps(scale);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __mmask16 k = keep_mask16(counter0 + static_cast<uint64_t>(i), keys.k0, keys.k1, threshold);
    _mm512_storeu_ps(out + i, _mm512_maskz_mul_ps(k, _mm512_loadu_ps(in + i), s));
  }
  if (i < n) {  // the tail: a partial load and store of the same 16 lanes
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __mmask16 k = keep_mask16(counter0 + static_cast<uint64_t>(i), keys.k0, keys.k1, threshold) & tail;
    const __m512 x = _mm512_maskz_loadu_ps(tail, in + i);
    _mm512_mask_storeu_ps(out + i, tail, _mm512_maskz_mul_ps(k, x, s));
  }
}

TSR_AVX512 void avx512_run(double* out, const double* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                           double scale) {
  const RoundKeys keys(seed);
  const __m512i threshold = _mm512_set1_epi32(static_cast<int>(keep_threshold(p)));
  const __m512d s = _mm512_set1_pd(scale);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);
    const __mmask16 valid = static_cast<__mmask16>(m == 16 ? 0xFFFFu : (1u << m) - 1);
    const __mmask16 k = keep_mask16(counter0 + static_cast<uint64_t>(i), keys.k0, keys.k1, threshold) & valid;
    for (int half = 0; half < 2; ++half) {
      const __mmask8 v = static_cast<__mmask8>(valid >> (8 * half)), kh = static_cast<__mmask8>(k >> (8 * half));
      if (!v) break;
      const __m512d x = _mm512_maskz_loadu_pd(v, in + i + 8 * half);
      _mm512_mask_storeu_pd(out + i + 8 * half, v, _mm512_maskz_mul_pd(kh, x, s));
    }
  }
}

bool detect_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

}  // namespace

bool dropout_uses_avx512() {
  static const bool yes = detect_avx512();
  return yes;
}

void apply_dropout(float* out, const float* in, int64_t n, uint64_t counter0, uint64_t seed, double p, float scale) {
  if (dropout_uses_avx512()) avx512_run(out, in, n, counter0, seed, p, scale);
  else scalar_run(out, in, n, counter0, seed, p, scale);
}
void apply_dropout(double* out, const double* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                   double scale) {
  if (dropout_uses_avx512()) avx512_run(out, in, n, counter0, seed, p, scale);
  else scalar_run(out, in, n, counter0, seed, p, scale);
}
void apply_dropout_scalar(float* out, const float* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                          float scale) {
  scalar_run(out, in, n, counter0, seed, p, scale);
}
void apply_dropout_scalar(double* out, const double* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                          double scale) {
  scalar_run(out, in, n, counter0, seed, p, scale);
}

}  // namespace tessera::cpu
