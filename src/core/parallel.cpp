#include "tessera/core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <exception>

#include "tessera/core/autocast.h"

namespace tessera {

// Defined by the BLAS backend (src/backends/cpu/blas.cpp); this weak default
// keeps the core linkable without it.
__attribute__((weak)) void blas_set_num_threads(int) {}

void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  blas_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  int64_t n = end - begin;
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (grain < 1) grain = 1;
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t chunks = std::min<int64_t>(threads, max_chunks);
  if (chunks <= 1) {
    fn(begin, end);
    return;
  }
  // Static split: chunk c covers [begin + c*n/chunks, begin + (c+1)*n/chunks).
  // An exception cannot cross an OpenMP region: keep the first and rethrow it.
  std::exception_ptr error;
  const Precision autocast = autocast_precision();  // the caller's, for GEMMs inside the chunks
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t lo = begin + c * n / chunks;
    int64_t hi = begin + (c + 1) * n / chunks;
    try {
      AutocastGuard same_precision(autocast);
      if (lo < hi) fn(lo, hi);
    } catch (...) {
#pragma omp critical(tessera_parallel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace tessera
