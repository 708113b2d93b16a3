// float32 -> bfloat16 rounding for the bf16 GEMM (blas.cpp): round to nearest
// even, NaN kept quiet, and subnormal inputs flushed to a signed zero, which
// is what AVX512-BF16's vcvtne2ps2bf16 does, so the vector path (CPUs with
// AVX512_BF16) and the scalar path (every other CPU) give the same bits.
#pragma once
#include <cstdint>

namespace tessera::cpu {

// cpuid: AVX512F + AVX512BW + AVX512_BF16 (the instructions this file and oneDNN's bf16 matmul use).
bool cpu_has_avx512_bf16();

inline uint16_t round_to_bf16(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0) u &= 0x80000000u;                              // subnormal -> signed zero
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                          // nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

// Rounds the rows x cols block at src (row stride ld) into a compact bf16
// block at dst (row stride cols); vector instructions when vector is true
// (the caller checked cpu_has_avx512_bf16). Splits rows over threads.
void to_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, uint16_t* dst, bool vector);
// The same rounding, the result kept as float32 (the emulated bf16 GEMM's operands).
void round_through_bf16(const float* src, int64_t rows, int64_t cols, int64_t ld, float* dst);

}  // namespace tessera::cpu
