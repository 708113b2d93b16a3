// Dispatch stubs for fused scaled-dot-product attention. q, k, v are
// contiguous (B, L, E), (B, S, E), (B, S, Ev) with the batch dims already
// broadcast and flattened; the mask is read in place through per-batch
// offsets, so a (L, S) mask shared by every head is never copied. CPU kernels:
// src/backends/cpu/attention.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"
#include "tessera/ops/dropout_layout.h"

namespace tessera {

enum class MaskKind : int { None, Bool, Additive };

struct AttentionParams {
  int64_t B = 0, L = 0, S = 0, E = 0, Ev = 0;
  double scale = 1.0;
  bool causal = false;  // mask key j > query i (top-left aligned)
  MaskKind mask_kind = MaskKind::None;
  std::vector<int64_t> mask_batch_offset;  // (B) element offset of batch b's (L, S) mask
  int64_t mask_row_stride = 0, mask_col_stride = 0;
  // Dropout on the attention weights: weight (b, i, j) is element (b*L + i)*S + j
  // of a dropout call with these seed, offset and layout (kernels/dropout.h).
  double dropout_p = 0.0;
  uint64_t seed = 0, offset = 0;
  DropoutMaskLayout dropout_layout = DropoutMaskLayout::kFourWordsPerCounter;
};

// out (B, L, Ev) and lse (B, L), the log-sum-exp of each row of masked,
// scaled scores: backward rebuilds the weights from it instead of storing
// the (B, L, S) attention matrix. mask is undefined when mask_kind is None.
TSR_DECLARE_STUB(attention_stub, void (*)(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                          const Tensor& v, const Tensor& mask, const AttentionParams& p));
// dq, dk, dv like q, k, v; dmask (B, L, S) is written when defined (an additive
// mask that requires grad). dout and out (the forward's output) (B, L, Ev)
// contiguous: a kernel may take the softmax term dO . O from them.
TSR_DECLARE_STUB(attention_backward_stub,
                 void (*)(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dmask, const Tensor& dout,
                          const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const Tensor& lse,
                          const AttentionParams& p));

}  // namespace tessera
