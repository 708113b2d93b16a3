// Parity registration for dropout (cases/dropout.py): a fresh generator at the
// case's (seed, offset) per call, so every call draws the same mask, in the
// case's mask layout (the op keeps it for its backward).
#include "registry.h"
#include "tessera/ops/dropout_layout.h"

namespace tessera::parity {

PARITY_OP(dropout) {
  Generator gen;
  gen.set_state(attr<uint64_t>(attrs, "seed"), attr<uint64_t>(attrs, "offset"));
  DropoutMaskLayoutScope layout(parse_dropout_mask_layout(attr<std::string>(attrs, "mask_layout")));
  return {dropout(in[0], attr<double>(attrs, "p"), attr<bool>(attrs, "training"), gen)};
}

}  // namespace tessera::parity
