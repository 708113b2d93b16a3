// Parity registrations for the reductions (cases/reduce.py).
#include "registry.h"

namespace tessera::parity {

PARITY_OP(sum) {
  return {sum(in[0], attr<std::vector<int64_t>>(attrs, "dims"), attr<bool>(attrs, "keepdim"))};
}
PARITY_OP(sum_all) { return {sum(in[0])}; }
PARITY_OP(mean) {
  return {mean(in[0], attr<std::vector<int64_t>>(attrs, "dims"), attr<bool>(attrs, "keepdim"))};
}
PARITY_OP(mean_all) { return {mean(in[0])}; }
PARITY_OP(var) {
  return {var(in[0], attr<std::vector<int64_t>>(attrs, "dims"), attr<int64_t>(attrs, "correction"),
              attr<bool>(attrs, "keepdim"))};
}
PARITY_OP(max) { return {max(in[0], attr<int64_t>(attrs, "dim"), attr<bool>(attrs, "keepdim"))}; }
PARITY_OP(max_all) { return {max(in[0])}; }
PARITY_OP(argmax) { return {argmax(in[0], attr<int64_t>(attrs, "dim"), attr<bool>(attrs, "keepdim"))}; }

}  // namespace tessera::parity
