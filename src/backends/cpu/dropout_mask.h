// Dropout applied to a run of consecutive elements, the mask generated in
// AVX-512 lanes (16 Philox4x32-10 counters at once) when the CPU has them and
// one counter at a time otherwise. Both paths give the mask of dropout_keep
// (src/kernels/dropout.h) bit for bit: element i is kept iff the first Philox
// word of counter (counter0 + i) under key `seed`, as a 24-bit uniform, is
// >= p. Shared by the dropout kernel and by attention's dropout on weights.
#pragma once
#include <cstdint>

namespace tessera::cpu {

// out[i] = keep(counter0 + i) ? in[i] * scale : 0 for 0 <= i < n; out may be in.
void apply_dropout(float* out, const float* in, int64_t n, uint64_t counter0, uint64_t seed, double p, float scale);
void apply_dropout(double* out, const double* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                   double scale);

// The same with the one-counter-at-a-time path forced: the reference the
// vector path is tested against, and what runs on CPUs without AVX-512.
void apply_dropout_scalar(float* out, const float* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                          float scale);
void apply_dropout_scalar(double* out, const double* in, int64_t n, uint64_t counter0, uint64_t seed, double p,
                          double scale);

// Whether apply_dropout uses the AVX-512 lanes on this CPU.
bool dropout_uses_avx512();

}  // namespace tessera::cpu
