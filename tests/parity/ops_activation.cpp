// Parity registrations for the activations and (log-)softmax (cases/activation.py).
#include "registry.h"

namespace tessera::parity {

PARITY_OP(relu) { return {relu(in[0])}; }
PARITY_OP(gelu) { return {gelu(in[0], attr<std::string>(attrs, "approximate"))}; }
PARITY_OP(sigmoid) { return {sigmoid(in[0])}; }
PARITY_OP(tanh) { return {tessera::tanh(in[0])}; }
PARITY_OP(silu) { return {silu(in[0])}; }
PARITY_OP(softmax) { return {softmax(in[0], attr<int64_t>(attrs, "dim"))}; }
PARITY_OP(log_softmax) { return {log_softmax(in[0], attr<int64_t>(attrs, "dim"))}; }

}  // namespace tessera::parity
