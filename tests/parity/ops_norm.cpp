// Parity registrations for layer_norm, rms_norm and their residual-add forms
// add_layer_norm / add_rms_norm (cases/norm.py). The attr
// "affine" ("wb", "w", "b" or "") says which of weight and bias follow x.
#include "registry.h"

namespace tessera::parity {
namespace {

struct Affine {
  Tensor weight, bias;
};

// The params follow the first `first` inputs (x, or x and residual).
Affine affine_inputs(const std::vector<Tensor>& in, const nlohmann::json& attrs, size_t first = 1) {
  const std::string a = attr<std::string>(attrs, "affine");
  Affine p;
  size_t next = first;
  if (a.find('w') != std::string::npos) p.weight = in.at(next++);
  if (a.find('b') != std::string::npos) p.bias = in.at(next++);
  return p;
}

}  // namespace

PARITY_OP(layer_norm) {
  Affine p = affine_inputs(in, attrs);
  return {layer_norm(in[0], attr<Shape>(attrs, "normalized_shape"), p.weight, p.bias, attr<double>(attrs, "eps"))};
}
PARITY_OP(rms_norm) {
  Affine p = affine_inputs(in, attrs);
  return {rms_norm(in[0], attr<Shape>(attrs, "normalized_shape"), p.weight, attr<double>(attrs, "eps"))};
}

PARITY_OP(add_layer_norm) {
  Affine p = affine_inputs(in, attrs, 2);
  AddNormResult r =
      add_layer_norm(in[0], in[1], attr<Shape>(attrs, "normalized_shape"), p.weight, p.bias, attr<double>(attrs, "eps"));
  return {r.sum, r.y};
}
PARITY_OP(add_rms_norm) {
  Affine p = affine_inputs(in, attrs, 2);
  AddNormResult r = add_rms_norm(in[0], in[1], attr<Shape>(attrs, "normalized_shape"), p.weight, attr<double>(attrs, "eps"));
  return {r.sum, r.y};
}

}  // namespace tessera::parity
