// Parity registration for scaled_dot_product_attention (cases/attention.py).
// The optional 4th input is the mask; a fresh generator at (seed, offset) per
// call gives every call the same dropout mask, in the case's mask layout.
#include "registry.h"
#include "tessera/ops/dropout_layout.h"

namespace tessera::parity {

PARITY_OP(scaled_dot_product_attention) {
  std::optional<double> scale;
  if (attrs.contains("scale") && !attrs.at("scale").is_null()) scale = attrs.at("scale").get<double>();
  Generator gen;
  gen.set_state(attr<uint64_t>(attrs, "seed"), attr<uint64_t>(attrs, "offset"));
  DropoutMaskLayoutScope layout(parse_dropout_mask_layout(attr<std::string>(attrs, "mask_layout")));
  return {scaled_dot_product_attention(in[0], in[1], in[2], in.size() > 3 ? in[3] : Tensor(),
                                       attr<bool>(attrs, "is_causal"), attr<double>(attrs, "dropout_p"), scale,
                                       &gen)};
}

}  // namespace tessera::parity
