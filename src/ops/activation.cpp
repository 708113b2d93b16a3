// Elementwise activations (relu, gelu, sigmoid, tanh, silu): forward and
// backward side by side. Formulas follow PyTorch's CPU kernels so results
// agree to rounding; the kernels are in src/backends/cpu/activation.cpp.
#include "tessera/ops/activation.h"
#include "tessera/core/profiler.h"

#include "kernels/activation.h"
#include "tessera/autograd/node.h"

namespace tessera {

const char* activation_name(Activation kind) {
  switch (kind) {
    case Activation::Relu: return "relu";
    case Activation::GeluErf:
    case Activation::GeluTanh: return "gelu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
    case Activation::Silu: return "silu";
  }
  return "activation";
}

namespace {

Tensor activation(const Tensor& x, Activation kind) {
  TSR_PROFILE_OP(activation_name(kind), x);
  const char* op = activation_name(kind);
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, op,
            ": expected a float32 or float64 tensor, got ", dtype_name(x.dtype()));
  // Kernels read a detached contiguous alias, so no copy node joins the graph.
  Tensor xc = x.detach().contiguous();
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  activation_stub[x.device()](out, xc, kind);
  if (any_requires_grad({&x})) {
    // Saving the output itself would make it own its own graph node (a cycle):
    // keep a history-free alias, which still shares the version counter.
    SavedTensor saved(activation_backward_uses_output(kind) ? out.detach() : xc);
    record(op, out, {x}, [saved, kind, op](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& s = saved.unpack(op);
      Tensor gx = empty(s.shape(), {.dtype = s.dtype(), .device = s.device()});
      activation_backward_stub[s.device()](gx, g.contiguous(), s, kind);
      return {gx};
    });
  }
  return out;
}

}  // namespace

Tensor relu(const Tensor& x) { return activation(x, Activation::Relu); }

Tensor gelu(const Tensor& x, const std::string& approximate) {
  TSR_CHECK(approximate == "none" || approximate == "tanh", Error,
            "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  return activation(x, approximate == "tanh" ? Activation::GeluTanh : Activation::GeluErf);
}

Tensor sigmoid(const Tensor& x) { return activation(x, Activation::Sigmoid); }
Tensor tanh(const Tensor& x) { return activation(x, Activation::Tanh); }
Tensor silu(const Tensor& x) { return activation(x, Activation::Silu); }

}  // namespace tessera
