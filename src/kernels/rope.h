// Dispatch stub for rotary embedding (ops/rope.h). The kernel reads x through
// per-row offsets so the strided q/k views cut from a fused qkv projection
// are rotated without first being copied. CPU kernel: src/backends/cpu/rope.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

struct RopeParams {
  int64_t N = 0, T = 0, D = 0;       // N = product of the batch dims
  std::vector<int64_t> batch_offset;  // (N) element offset of batch entry n in x's storage view
  int64_t t_stride = 0, d_stride = 0;
  bool inverse = false;  // rotate by -angle (the backward pass)
};

// out contiguous (N, T, D); x read at x.data + batch_offset[n] + t*t_stride + d*d_stride
// (offsets relative to x's first element); cos, sin contiguous (T, D/2).
TSR_DECLARE_STUB(rope_stub, void (*)(const Tensor& out, const Tensor& x, const Tensor& cos, const Tensor& sin,
                                     const RopeParams& p));

}  // namespace tessera
