// oneDNN's matmul primitive with bf16 operands and float32 accumulation and
// output, for the bf16 GEMM (blas.cpp). libdnnl.so.2 is opened with dlopen
// like dnnl_sgemm (nothing linked at build time); the C API types come from
// Debian's libdnnl-dev headers. Primitives are created once per shape
// (M, N, K, transposes, ldc, alpha, beta, thread count) and cached, so a
// training step creates none after the first; execution is thread-safe
// (each thread has its own stream and scratchpad).
#pragma once
#include <cstdint>
#include <string>

namespace tessera::cpu {

// Whether the primitive can run here: oneDNN loaded and it offers a bf16
// matmul on this CPU's instructions. When false, *why says why.
bool bf16_matmul_available(std::string* why = nullptr);

// C = alpha * op(A) * op(B) + beta * C with A and B compact bf16 blocks in
// their stored layout: A is (M, K), or (K, M) when trans_a; B is (K, N), or
// (N, K) when trans_b. C is float32 with row stride ldc; not read when beta == 0.
void bf16_matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                 const uint16_t* B, float beta, float* C, int64_t ldc);

// The implementation oneDNN picked for a shape ("brg:avx512_core_bf16", ...): benchmarks and tests.
std::string bf16_matmul_impl(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K);

}  // namespace tessera::cpu
