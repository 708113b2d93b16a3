#include "backends/cpu/bf16_convert.h"

#include <immintrin.h>

#include <algorithm>

#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

// Rows per thread chunk: about 64k elements, so small operands stay on one thread.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(cols, 1)); }

__attribute__((target("avx512f,avx512bw,avx512bf16"))) void row_to_bf16_avx512(const float* s, int64_t n,
                                                                                  uint16_t* d) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + j + 16), _mm512_loadu_ps(s + j));
    _mm512_storeu_si512(d + j, reinterpret_cast<__m512i>(v));
  }
  if (j < n) {  // the tail: masked loads read nothing past the row
    const int64_t left = n - j;
    const __mmask16 lo = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
    const __mmask16 hi = left > 16 ? __mmask16((1u << (left - 16)) - 1) : __mmask16(0);
    const __m512 a = _mm512_maskz_loadu_ps(lo, s + j);
    const __m512 b = _mm512_maskz_loadu_ps(hi, s + j + 16);
    const __m512bh v = _mm512_cvtne2ps_pbh(b, a);
    const __mmask32 m = left >= 32 ? ~__mmask32(0) : __mmask32((uint64_t{1} << left) - 1);
    _mm512_mask_storeu_epi16(d + j, m, reinterpret_cast<__m512i>(v));
  }
}

void row_to_bf16_scalar(const float* s, int64_t n, uint16_t* d) {
  for (int64_t j = 0; j < n; ++j) d[j] = round_to_bf16(s[j]);
}

}  // namespace

bool cpu_has_avx512_bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
  }();
  return has;
}

void to_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, uint16_t* dst, bool vector) {
  parallel_for(0, rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (vector) row_to_bf16_avx512(src + i * ld, cols, dst + i * cols);
      else row_to_bf16_scalar(src + i * ld, cols, dst + i * cols);
    }
  });
}

void round_through_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
  parallel_for(0, rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* s = src + i * ld;
      float* d = dst + i * cols;
      for (int64_t j = 0; j < cols; ++j) d[j] = bf16_to_float(round_to_bf16(s[j]));
    }
  });
}

}  // namespace tessera::cpu
