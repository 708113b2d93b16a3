// Dispatch stub for dropout. The mask is never stored: element i is kept iff
// the Philox uniform for counter (offset + i) under key `seed` is >= p, so the
// backward pass regenerates it by running the same kernel on the gradient.
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/random.h"
#include "tessera/core/tensor.h"

namespace tessera {

// out[i] = keep(i) ? x[i] / (1 - p) : 0; out and x contiguous, same shape.
TSR_DECLARE_STUB(dropout_stub, void (*)(const Tensor& out, const Tensor& x, double p, uint64_t seed, uint64_t offset));

// Whether element `counter` survives dropout with probability p: the uniform
// rand() would draw there (first Philox word, 24 bits), compared in double.
// The definition of the mask: the CPU kernels generate it 16 counters at a
// time (src/backends/cpu/dropout_mask.h) and are tested equal to this.
inline bool dropout_keep(uint64_t counter, uint64_t seed, double p) {
  return static_cast<double>(uint_to_unit_float(philox4x32(counter, seed)[0])) >= p;
}

}  // namespace tessera
