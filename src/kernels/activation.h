// Kernel stubs for the elementwise activations. Kernels take contiguous
// tensors; the frontend (src/ops/activation.cpp) makes them so. CPU kernels:
// src/backends/cpu/activation.cpp.
#pragma once
#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

enum class Activation : int { Relu, GeluErf, GeluTanh, Sigmoid, Tanh, Silu };

// The op name of an activation, for error messages and graph nodes.
const char* activation_name(Activation kind);
// Whether the backward is written in terms of the output y (relu, sigmoid,
// tanh) rather than the input x (gelu, silu): saving y is then enough.
inline bool activation_backward_uses_output(Activation kind) {
  return kind == Activation::Relu || kind == Activation::Sigmoid || kind == Activation::Tanh;
}

// out = f(x), elementwise; out and x contiguous, same shape and dtype.
TSR_DECLARE_STUB(activation_stub, void (*)(Tensor& out, const Tensor& x, Activation kind));
// gx = g * f'(.), where `saved` is y or x as activation_backward_uses_output says.
TSR_DECLARE_STUB(activation_backward_stub,
                 void (*)(Tensor& gx, const Tensor& g, const Tensor& saved, Activation kind));

}  // namespace tessera
