// Elementwise activations, as torch.nn.functional.
#pragma once
#include <string>

#include "tessera/core/tensor.h"
#include "tessera/ops/softmax.h"  // softmax was declared here before it had its own header

namespace tessera {

Tensor relu(const Tensor& x);
// approximate: "none" (erf form) or "tanh", as torch.nn.functional.gelu.
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);

}  // namespace tessera
