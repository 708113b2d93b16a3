// Dropout applied to a run of consecutive elements of one call, the mask
// generated in AVX-512 lanes (16 Philox4x32-10 counters at once) when the CPU
// has them and one counter at a time otherwise. Both paths give the mask of
// dropout_keep (src/kernels/dropout.h) bit for bit, in either layout
// (tessera/ops/dropout_layout.h). Shared by the dropout kernel and by
// attention's dropout on weights.
#pragma once
#include <cstdint>

#include "kernels/dropout.h"

namespace tessera::cpu {

// out[k] = dropout_keep(mask, first + k) ? in[k] * scale : 0 for 0 <= k < n;
// out may be in. `first` is the element's index within the call, so a run may
// start anywhere (a thread's chunk, an attention row or tile).
void apply_dropout(float* out, const float* in, int64_t n, const DropoutMask& mask, uint64_t first, float scale);
void apply_dropout(double* out, const double* in, int64_t n, const DropoutMask& mask, uint64_t first, double scale);

// The same with the one-counter-at-a-time path forced: the reference the
// vector path is tested against, and what runs on CPUs without AVX-512.
void apply_dropout_scalar(float* out, const float* in, int64_t n, const DropoutMask& mask, uint64_t first,
                          float scale);
void apply_dropout_scalar(double* out, const double* in, int64_t n, const DropoutMask& mask, uint64_t first,
                          double scale);

// Whether apply_dropout uses the AVX-512 lanes on this CPU.
bool dropout_uses_avx512();

}  // namespace tessera::cpu
