// The float32 GEMM under bf16 autocast (tessera/core/autocast.h), called by
// gemm(float) in blas.cpp: op(A) and op(B) are rounded to bfloat16 (nearest
// even) into per-thread scratch, multiplied with float32 accumulation, and
// C = alpha * op(A) * op(B) + beta * C is written in float32, as
// torch.autocast's bf16 matmul does before it rounds its output.
// With AVX512_BF16 this is oneDNN's bf16 matmul primitive (bf16_matmul.h);
// without it (or with TESSERA_NO_BF16=1) the rounded operands go through the
// float32 GEMM: same values up to summation order, no faster, said once on stderr.
#pragma once
#include <cstdint>

namespace tessera::cpu {

// Same contract as gemm(float) (blas.h); the caller has handled M, N or K == 0.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace tessera::cpu
