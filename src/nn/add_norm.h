// The residual add before a norm module, fused into one kernel: blocks write
// `auto [sum, y] = nn::add_norm(*ln, x, delta)` where they had
// `sum = x + delta; y = ln->forward(sum)`. Internal to the library (the models
// and nn::Transformer* layers); the public op is ops/norm.h's add_layer_norm.
#pragma once
#include "tessera/nn/module.h"
#include "tessera/ops/norm.h"

namespace tessera::nn {

// norm is an nn::LayerNorm or nn::RMSNorm (its options, weight and bias are
// used exactly as its forward uses them); any other module gets the plain
// add followed by its forward.
AddNormResult add_norm(Module& norm, const Tensor& x, const Tensor& residual);

}  // namespace tessera::nn
