// Philox4x32-10 in 16 AVX-512 lanes for dropout masks. The scalar call costs
// about 13 ns per counter here (the 32x32->64-bit multiplies run one at a
// time); sixteen counters per instruction, and all four output words of each
// (layout kFourWordsPerCounter: 64 elements per batch), bring the mask well
// under 1 ns per element (dev/dropout/). The lanes compute the very same
// function as philox4x32() (src/core/random.cpp): each 32x32 multiply's high
// and low halves come from two vpmuludq (even and odd lanes) and two blends.
//
// Layout kWord0PerCounter (first word only, one counter per element) stays
// for runs saved before the layout was recorded: resumed, they keep drawing
// the masks they would have drawn (tessera/ops/dropout_layout.h).
#include "backends/cpu/dropout_mask.h"

// GCC 12 warns that the shift intrinsics read an uninitialised operand (their
// unused pass-through vector, inside immintrin.h, so the pragma comes before
// it); nothing reads it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace tessera::cpu {
namespace {

// keep iff (word >> 8) >= threshold: the same as float(word >> 8) / 2^24 >= p
// in double, since p * 2^24 is exact and (word >> 8) is an integer.
uint32_t keep_threshold(double p) { return static_cast<uint32_t>(std::ceil(p * 16777216.0)); }

template <typename T>
void scalar_run(T* out, const T* in, int64_t n, const DropoutMask& m, uint64_t first, T scale) {
  if (m.layout == DropoutMaskLayout::kWord0PerCounter) {
    for (int64_t i = 0; i < n; ++i) out[i] = dropout_keep(m, first + static_cast<uint64_t>(i)) ? in[i] * scale : T(0);
    return;
  }
  // One Philox call per four elements, as the definition maps them.
  const uint32_t threshold = keep_threshold(m.p);
  for (int64_t i = 0; i < n;) {
    const uint64_t e = first + static_cast<uint64_t>(i);
    const auto w = philox4x32(m.offset + e / 4, m.seed);
    for (uint64_t k = e % 4; k < 4 && i < n; ++k, ++i) out[i] = (w[k] >> 8) >= threshold ? in[i] * scale : T(0);
  }
}

#define TSR_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,bmi2")))

// hi and lo 32 bits of a * m per 32-bit lane.
TSR_AVX512 inline void mul_hi_lo(__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(a, m);                         // lanes 0, 2, ..: 64-bit products
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);  // lanes 1, 3, ..
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
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

// The four output words of Philox4x32-10 for counters first .. first + 15
// (lane l: counter first + l, modulo 2^64).
struct Words16 {
  __m512i w[4];
};
TSR_AVX512 inline Words16 philox16(uint64_t first, const RoundKeys& keys) {
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
    const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(keys.k0[round])));
    const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(keys.k1[round])));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return {{c0, c1, c2, c3}};
}

TSR_AVX512 inline __mmask16 keep16(__m512i word, __m512i threshold) {
  return _mm512_cmpge_epu32_mask(_mm512_srli_epi32(word, 8), threshold);
}

// Keep bits for consecutive elements of one call, 64 at a time: bit k of a
// batch is element (batch start + k).
class LaneMask {
 public:
  // The first batch starts at element `first`, or, in the four-word layout,
  // at the first element of its counter: `skip` leading bits precede `first`.
  LaneMask(const DropoutMask& m, uint64_t first)
      : keys_(m.seed), threshold_(keep_threshold(m.p)), words4_(m.layout == DropoutMaskLayout::kFourWordsPerCounter) {
    counter_ = words4_ ? m.offset + first / 4 : m.offset + first;
    skip = words4_ ? static_cast<int>(first % 4) : 0;
  }
  int skip;

  // The next batch; only its first `need` bits (<= 64) have to be right.
  TSR_AVX512 uint64_t next(int64_t need) {
    const __m512i threshold = _mm512_set1_epi32(static_cast<int>(threshold_));
    uint64_t bits = 0;
    if (words4_) {
      // Lane l's word w is element 4l + w: spread each word's 16 keep bits
      // to every fourth bit.
      const Words16 r = philox16(counter_, keys_);
      for (int w = 0; w < 4; ++w)
        bits |= _pdep_u64(keep16(r.w[w], threshold), 0x1111111111111111ull << w);
      counter_ += 16;
    } else {
      for (int64_t q = 0; q * 16 < need; ++q)
        bits |= static_cast<uint64_t>(keep16(philox16(counter_ + 16 * q, keys_).w[0], threshold)) << (16 * q);
      counter_ += 64;
    }
    return bits;
  }

 private:
  RoundKeys keys_;
  uint32_t threshold_;
  bool words4_;
  uint64_t counter_;
};

// out[k] = bit k of bits ? in[k] * s : 0 for k < m <= 64.
TSR_AVX512 inline void apply_bits(float* out, const float* in, int64_t m, uint64_t bits, __m512 s) {
  for (int64_t lo = 0; lo < m; lo += 16) {
    const __mmask16 k = static_cast<__mmask16>(bits >> lo);
    if (m - lo >= 16) {
      _mm512_storeu_ps(out + lo, _mm512_maskz_mul_ps(k, _mm512_loadu_ps(in + lo), s));
    } else {
      const __mmask16 valid = static_cast<__mmask16>((1u << (m - lo)) - 1);
      const __m512 x = _mm512_maskz_loadu_ps(valid, in + lo);
      _mm512_mask_storeu_ps(out + lo, valid, _mm512_maskz_mul_ps(k, x, s));
    }
  }
}
TSR_AVX512 inline void apply_bits(double* out, const double* in, int64_t m, uint64_t bits, __m512d s) {
  for (int64_t lo = 0; lo < m; lo += 8) {
    const __mmask8 k = static_cast<__mmask8>(bits >> lo);
    if (m - lo >= 8) {
      _mm512_storeu_pd(out + lo, _mm512_maskz_mul_pd(k, _mm512_loadu_pd(in + lo), s));
    } else {
      const __mmask8 valid = static_cast<__mmask8>((1u << (m - lo)) - 1);
      const __m512d x = _mm512_maskz_loadu_pd(valid, in + lo);
      _mm512_mask_storeu_pd(out + lo, valid, _mm512_maskz_mul_pd(k, x, s));
    }
  }
}

TSR_AVX512 __m512 broadcast(float v) { return _mm512_set1_ps(v); }
TSR_AVX512 __m512d broadcast(double v) { return _mm512_set1_pd(v); }

template <typename T>
TSR_AVX512 void avx512_run(T* out, const T* in, int64_t n, const DropoutMask& m, uint64_t first, T scale) {
  LaneMask lanes(m, first);
  const auto s = broadcast(scale);
  for (int64_t i = 0; i < n;) {
    // A run starting inside a counter's four elements drops the bits before it.
    const int skip = lanes.skip;
    const int64_t count = std::min<int64_t>(64 - skip, n - i);
    const uint64_t bits = lanes.next(count + skip) >> skip;
    apply_bits(out + i, in + i, count, bits, s);
    i += count;
    lanes.skip = 0;
  }
}

bool detect_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
}

}  // namespace

bool dropout_uses_avx512() {
  static const bool yes = detect_avx512();
  return yes;
}

void apply_dropout(float* out, const float* in, int64_t n, const DropoutMask& mask, uint64_t first, float scale) {
  if (dropout_uses_avx512()) avx512_run(out, in, n, mask, first, scale);
  else scalar_run(out, in, n, mask, first, scale);
}
void apply_dropout(double* out, const double* in, int64_t n, const DropoutMask& mask, uint64_t first, double scale) {
  if (dropout_uses_avx512()) avx512_run(out, in, n, mask, first, scale);
  else scalar_run(out, in, n, mask, first, scale);
}
void apply_dropout_scalar(float* out, const float* in, int64_t n, const DropoutMask& mask, uint64_t first,
                          float scale) {
  scalar_run(out, in, n, mask, first, scale);
}
void apply_dropout_scalar(double* out, const double* in, int64_t n, const DropoutMask& mask, uint64_t first,
                          double scale) {
  scalar_run(out, in, n, mask, first, scale);
}

}  // namespace tessera::cpu
