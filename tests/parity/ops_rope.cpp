// Parity registration for rotary_embedding (cases/rope.py): inputs x, cos, sin.
#include "registry.h"
#include "tessera/ops/rope.h"

namespace tessera::parity {

PARITY_OP(rotary_embedding) { return {rotary_embedding(in[0], in[1], in[2])}; }

}  // namespace tessera::parity
