// The tiled (flash-attention style) CPU attention, used by the registered
// attention kernels (attention.cpp) for the cases it covers: no user mask,
// causal or not, with or without dropout on the weights.
#pragma once
#include "kernels/attention.h"

namespace tessera::cpu {

bool attention_tiled_forward_applies(const AttentionParams& p);
bool attention_tiled_backward_applies(const AttentionParams& p);

// Same contract as attention_stub / attention_backward_stub (out is the forward's output).
void attention_tiled_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionParams& p);
void attention_tiled_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                              const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse,
                              const AttentionParams& p);

}  // namespace tessera::cpu
