// Row-major GEMM for the CPU kernels: C = alpha * op(A) * op(B) + beta * C,
// op(A) of shape (M, K), op(B) of shape (K, N), C of shape (M, N) with row
// strides lda, ldb, ldc (in elements). float32 runs on oneDNN's sgemm, loaded
// at first use; float64 (used for gradient checks) on a built-in loop. Why
// oneDNN and not OpenBLAS: docs/blas.md.
//
// Like BLAS, C is not read when beta == 0, K == 0 gives C = beta * C, and the
// result is bit-identical run to run at a fixed thread count. Called from
// inside a parallel region, a GEMM runs on the calling thread only. Under
// bf16 autocast (tessera/core/autocast.h) the float32 GEMM rounds op(A) and
// op(B) to bfloat16 and accumulates in float32 (bf16_gemm.h).
#pragma once
#include <cstdint>

namespace tessera {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

// Whether a batch of independent GEMM-sized work items (flops each) should
// run one item per thread, each on single-threaded BLAS, rather than one item
// at a time on threaded BLAS: yes when the batch splits evenly over the
// threads, or is large, or the items are too small for BLAS to thread well.
bool split_batch_over_threads(int64_t batch, double flops_per_item);

// Called by set_num_threads (src/core/parallel.cpp).
void blas_set_num_threads(int n);

// Names the float32 GEMM in use ("oneDNN 2.6.3 (libdnnl.so.2)"); loads it. For logs and benchmarks.
const char* blas_backend_name();

}  // namespace tessera
