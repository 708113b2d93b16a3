// Dispatch stub for dropout. The mask is never stored: element i of a call is
// kept iff its Philox uniform (tessera/ops/dropout_layout.h says which counter
// and word) is >= p, so the backward pass regenerates it by running the same
// kernel on the gradient.
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/random.h"
#include "tessera/core/tensor.h"
#include "tessera/ops/dropout_layout.h"

namespace tessera {

// One dropout call's mask: the generator's key, the first counter the call
// reserved, the probability and the layout.
struct DropoutMask {
  uint64_t seed = 0;
  uint64_t offset = 0;
  double p = 0.0;
  DropoutMaskLayout layout = DropoutMaskLayout::kFourWordsPerCounter;
};

// out[i] = keep(i) ? x[i] / (1 - p) : 0; out and x contiguous, same shape.
TSR_DECLARE_STUB(dropout_stub, void (*)(const Tensor& out, const Tensor& x, const DropoutMask& mask));

// Whether element `element` of the call survives: the uniform rand() would
// draw from its Philox word (24 bits), compared in double. The definition of
// the mask: the CPU kernels generate it 16 counters at a time
// (src/backends/cpu/dropout_mask.h) and are tested equal to this.
inline bool dropout_keep(const DropoutMask& m, uint64_t element) {
  const uint32_t word = m.layout == DropoutMaskLayout::kWord0PerCounter
                            ? philox4x32(m.offset + element, m.seed)[0]
                            : philox4x32(m.offset + element / 4, m.seed)[element % 4];
  return static_cast<double>(uint_to_unit_float(word)) >= m.p;
}

}  // namespace tessera
