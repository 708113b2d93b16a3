// GEMM backends. float32 goes to oneDNN's dnnl_sgemm, opened with dlopen at
// first use: oneDNN picks its kernels from cpuid at run time (it knows every
// AVX-512 CPU, unlike OpenBLAS 0.3.21 which needs OPENBLAS_CORETYPE on new
// Intel parts), it was the fastest on every shape we measured (docs/blas.md),
// and it runs on the same OpenMP runtime (libgomp) as parallel_for, so its
// thread count follows set_num_threads and a call from inside a parallel
// region stays on its thread. oneDNN has no double GEMM; float64 only serves
// gradient checks and tests, so a plain loop with a fixed summation order does.
#include "backends/cpu/blas.h"

#include <dlfcn.h>

#include <algorithm>
#include <string>

#include "backends/cpu/bf16_gemm.h"
#include "tessera/core/autocast.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

// dnnl_sgemm from oneapi/dnnl/dnnl.h (row-major); returns dnnl_status_t (0 = success).
using DnnlSgemm = int (*)(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
struct DnnlVersion {  // dnnl_version_t
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};
constexpr unsigned kDnnlRuntimeOmp = 2;  // DNNL_RUNTIME_OMP

struct Dnnl {
  DnnlSgemm sgemm = nullptr;
  std::string name;
  std::string error;  // why it could not be loaded

  Dnnl() {
    const char* lib = "libdnnl.so.2";
    // RTLD_LOCAL: its symbols stay out of the global namespace of the host program.
    void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      error = detail::concat("cannot load oneDNN (", lib, "): ", why ? why : "unknown error",
                             ". float32 matmul and conv2d need it: install the Debian package libdnnl2 "
                             "(scripts/install_deps.sh)");
      return;
    }
    sgemm = reinterpret_cast<DnnlSgemm>(dlsym(h, "dnnl_sgemm"));
    auto version = reinterpret_cast<const DnnlVersion* (*)()>(dlsym(h, "dnnl_version"));
    if (!sgemm || !version) {
      error = detail::concat(lib, " has no dnnl_sgemm/dnnl_version: expected oneDNN 2.x (Debian package libdnnl2)");
      sgemm = nullptr;
      return;
    }
    const DnnlVersion* v = version();
    name = detail::concat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (", lib, ")");
    // Another threading runtime would ignore set_num_threads and nest inside parallel_for.
    if (v->cpu_runtime != kDnnlRuntimeOmp) {
      error = detail::concat(name, " is not built with the OpenMP runtime (cpu_runtime ", v->cpu_runtime,
                             "); install Debian's libdnnl2");
      sgemm = nullptr;
    }
  }
};

const Dnnl& dnnl() {
  static const Dnnl d;  // thread-safe one-time load
  return d;
}

// Handles the sizes BLAS libraries disagree on; returns true when nothing is left to do.
template <typename T>
bool trivial_gemm(int64_t M, int64_t N, int64_t K, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return true;
  if (K > 0) return false;
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
  return true;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (trivial_gemm(M, N, K, beta, C, ldc)) return;
  if (autocast_bf16()) return cpu::gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const Dnnl& d = dnnl();
  if (!d.sgemm) throw Error(d.error);
  int status = d.sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  TSR_CHECK(status == 0, Error, "dnnl_sgemm failed with status ", status, " (M=", M, ", N=", N, ", K=", K,
            ", lda=", lda, ", ldb=", ldb, ", ldc=", ldc, ", trans_a=", trans_a, ", trans_b=", trans_b, ")");
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (trivial_gemm(M, N, K, beta, C, ldc)) return;
  // op(A)(i, k): row i of op(A) is contiguous unless A is transposed.
  const int64_t a_row = trans_a ? 1 : lda, a_col = trans_a ? lda : 1;
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / (N * K));
  parallel_for(0, M, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      double* c = C + i * ldc;  // (N)
      const double* a = A + i * a_row;
      if (beta == 0) std::fill(c, c + N, 0.0);
      else if (beta != 1) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      if (!trans_b) {  // rows of B are contiguous: accumulate a(i,k) * B[k, :]
        for (int64_t k = 0; k < K; ++k) {
          const double s = alpha * a[k * a_col];
          const double* b = B + k * ldb;
          for (int64_t j = 0; j < N; ++j) c[j] += s * b[j];
        }
      } else {  // B stored (N, K): dot products along contiguous rows of B
        for (int64_t j = 0; j < N; ++j) {
          const double* b = B + j * ldb;
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += a[k * a_col] * b[k];
          c[j] += alpha * s;
        }
      }
    }
  });
}

bool split_batch_over_threads(int64_t batch, double flops_per_item) {
  const int threads = get_num_threads();
  return threads > 1 && batch >= threads && (batch % threads == 0 || batch >= 4 * threads || flops_per_item < 4e6);
}

// oneDNN's OpenMP runtime reads omp_get_max_threads() at every call, which
// set_num_threads has already set; nothing to forward.
void blas_set_num_threads(int) {}

const char* blas_backend_name() {
  const Dnnl& d = dnnl();
  if (!d.sgemm) throw Error(d.error);
  return d.name.c_str();
}

}  // namespace tessera
