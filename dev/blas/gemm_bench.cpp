// sgemm throughput of the BLAS candidates, loaded with dlopen as the library does (docs/blas.md).
// Build: g++ -O2 -fopenmp gemm_bench.cpp -o gemm_bench -ldl
// Usage: gemm_bench <openblas|openblas-pthread|dnnl> <threads> [MxNxK[:NN|NT|TN]]...
// Prints the median GFLOP/s over repetitions (about 0.3 s of work per shape).
#include <dlfcn.h>
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
typedef void (*cblas_sgemm_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef int (*dnnl_sgemm_t)(char, char, long, long, long, float, const float*, long, const float*, long, float, float*, long);
int main(int argc, char** argv) {
  const char* which = argv[1];
  int nt = atoi(argv[2]);
  omp_set_num_threads(nt);
  std::vector<std::string> shapes;
  for (int i = 3; i < argc; ++i) shapes.push_back(argv[i]);
  if (shapes.empty()) shapes = {"256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048"};
  cblas_sgemm_t sg = nullptr;
  dnnl_sgemm_t dg = nullptr;
  if (!strncmp(which, "openblas", 8)) {
    std::string path = std::string("/usr/lib/x86_64-linux-gnu/") + (strcmp(which, "openblas") ? "openblas-pthread" : "openblas-openmp") + "/libopenblas.so.0";
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    sg = (cblas_sgemm_t)dlsym(h, "cblas_sgemm");
    ((void (*)(int))dlsym(h, "openblas_set_num_threads"))(nt);
    printf("%-10s", ((char* (*)())dlsym(h, "openblas_get_corename"))());
  } else {
    void* h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    dg = (dnnl_sgemm_t)dlsym(h, "dnnl_sgemm");
    printf("%-10s", "dnnl");
  }
  printf(" t=%d", nt);
  for (auto& s : shapes) {
    long M, N, K;
    char tr[3] = "NN";
    sscanf(s.c_str(), "%ldx%ldx%ld:%2s", &M, &N, &K, tr);
    bool ta = tr[0] == 'T', tb = tr[1] == 'T';
    std::vector<float> A(M * K), B(K * N), C(M * N);
    for (size_t i = 0; i < A.size(); ++i) A[i] = (i % 17) * 0.01f;
    for (size_t i = 0; i < B.size(); ++i) B[i] = (i % 13) * 0.02f;
    long lda = ta ? M : K, ldb = tb ? K : N;
    auto call = [&] {
      if (sg) sg(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), N);
      else dg(tr[0], tr[1], M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), N);
    };
    call(); call();
    double flop = 2.0 * M * N * K;
    int reps = std::max(5, (int)(3e10 / flop));
    std::vector<double> ts;
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      call();
      ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ts.begin(), ts.end());
    printf(" %s:%.0f", s.c_str(), flop / ts[ts.size() / 2] / 1e9);
  }
  printf("\n");
}
