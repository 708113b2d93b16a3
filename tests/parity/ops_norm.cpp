// Parity registrations for layer_norm and rms_norm (cases/norm.py). The attr
// "affine" ("wb", "w", "b" or "") says which of weight and bias follow x.
#include "registry.h"

namespace tessera::parity {
namespace {

struct Affine {
  Tensor weight, bias;
};

Affine affine_inputs(const std::vector<Tensor>& in, const nlohmann::json& attrs) {
  const std::string a = attr<std::string>(attrs, "affine");
  Affine p;
  size_t next = 1;
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

}  // namespace tessera::parity
