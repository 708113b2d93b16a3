// fp32 vs bf16-autocast GEMM throughput through tessera::gemm (src/backends/cpu/blas.h), as training calls it.
// Build (from the worktree root, after building libtessera):
//   g++ -O2 -fopenmp -Iinclude -Isrc dev/blas/bf16_gemm_bench.cpp -Lbuild -ltessera -Wl,-rpath,$PWD/build -o /tmp/bf16_gemm_bench
// Usage: bf16_gemm_bench <threads> [MxNxK[:NN|NT|TN]]...   (median GFLOP/s over about 0.3 s per shape and mode)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/cpu/bf16_matmul.h"
#include "backends/cpu/blas.h"
#include "tessera/core/autocast.h"
#include "tessera/core/parallel.h"

using namespace tessera;

static double run(bool bf16, bool ta, bool tb, long M, long N, long K, const float* A, const float* B, float* C) {
  AutocastGuard g(bf16 ? Precision::bf16 : Precision::fp32);
  const long lda = ta ? M : K, ldb = tb ? K : N;
  gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);  // warm-up (creates the primitive)
  std::vector<double> gf;
  auto start = std::chrono::steady_clock::now();
  while (gf.size() < 5 || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 0.3) {
    auto t0 = std::chrono::steady_clock::now();
    gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gf.push_back(2.0 * M * N * K / s / 1e9);
  }
  std::sort(gf.begin(), gf.end());
  return gf[gf.size() / 2];
}

int main(int argc, char** argv) {
  set_num_threads(argc > 1 ? atoi(argv[1]) : 2);
  std::vector<std::string> shapes;
  for (int i = 2; i < argc; ++i) shapes.push_back(argv[i]);
  if (shapes.empty())
    shapes = {"2048x384x384",     "2048x1536x384",    "2048x384x1536",    "2048x1536x1536", "1024x1024x1024",
              "2048x384x1536:NT", "384x1536x2048:TN", "2048x1536x384:NT", "1536x384x2048:TN"};
  std::printf("threads %d, %s\n", get_num_threads(), bf16_backend_description().c_str());
  std::printf("%-20s %10s %10s %6s  %s\n", "shape", "fp32", "bf16", "x", "oneDNN impl");
  for (const auto& sh : shapes) {
    long M, N, K;
    char t[3] = "NN";
    std::sscanf(sh.c_str(), "%ldx%ldx%ld:%2s", &M, &N, &K, t);
    const bool ta = t[0] == 'T', tb = t[1] == 'T';
    std::vector<float> A(M * K), B(K * N), C(M * N);
    for (auto& x : A) x = float(rand()) / RAND_MAX - 0.5f;
    for (auto& x : B) x = float(rand()) / RAND_MAX - 0.5f;
    const double f = run(false, ta, tb, M, N, K, A.data(), B.data(), C.data());
    const double b = run(true, ta, tb, M, N, K, A.data(), B.data(), C.data());
    std::string impl = bf16_native() ? cpu::bf16_matmul_impl(ta, tb, M, N, K) : "emulated";
    std::printf("%-20s %10.0f %10.0f %6.2f  %s\n", sh.c_str(), f, b, b / f, impl.c_str());
  }
}
