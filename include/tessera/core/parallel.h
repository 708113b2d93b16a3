// Threading. Kernels split work with parallel_for, which uses a static
// partition of [begin, end): the split depends only on the range and the
// thread count, so results are bit-identical run to run at a fixed count.
#pragma once
#include <cstdint>
#include <functional>

namespace tessera {

void set_num_threads(int n);  // also sets BLAS's thread count
int get_num_threads();

// Calls fn(chunk_begin, chunk_end) on disjoint chunks; runs inline when the
// range is smaller than `grain` or when called from inside a parallel region.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(c) once for every chunk c in [0, chunks), the chunks claimed one at
// a time by the calling thread and up to get_num_threads() - 1 helper threads
// (spinning briefly between calls, then asleep). The caller never waits for a
// helper that has not started, so a busy other core costs at most the chunk
// a descheduled helper holds, not a time slice per call. For kernels whose
// result does not depend on which thread ran a chunk (each output element
// computed by one chunk): decode-time matrix-vector products.
void parallel_claim(int64_t chunks, const std::function<void(int64_t)>& fn);

}  // namespace tessera
