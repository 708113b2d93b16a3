// Parity registration for dropout (cases/dropout.py): a fresh generator at the
// case's (seed, offset) per call, so every call draws the same mask.
#include "registry.h"

namespace tessera::parity {

PARITY_OP(dropout) {
  Generator gen;
  gen.set_state(attr<uint64_t>(attrs, "seed"), attr<uint64_t>(attrs, "offset"));
  return {dropout(in[0], attr<double>(attrs, "p"), attr<bool>(attrs, "training"), gen)};
}

}  // namespace tessera::parity
