// Parity registrations for the losses (cases/loss.py). Optional weight
// tensors follow the required inputs.
#include "registry.h"

namespace tessera::parity {
namespace {

Tensor input_or_none(const std::vector<Tensor>& in, size_t i) { return i < in.size() ? in[i] : Tensor(); }

}  // namespace

PARITY_OP(cross_entropy) {
  return {cross_entropy(in[0], in[1], input_or_none(in, 2), attr<int64_t>(attrs, "ignore_index"),
                        attr<double>(attrs, "label_smoothing"), attr<std::string>(attrs, "reduction"))};
}
PARITY_OP(nll_loss) {
  return {nll_loss(in[0], in[1], input_or_none(in, 2), attr<int64_t>(attrs, "ignore_index"),
                   attr<std::string>(attrs, "reduction"))};
}
PARITY_OP(mse_loss) { return {mse_loss(in[0], in[1], attr<std::string>(attrs, "reduction"))}; }
PARITY_OP(l1_loss) { return {l1_loss(in[0], in[1], attr<std::string>(attrs, "reduction"))}; }
PARITY_OP(binary_cross_entropy_with_logits) {
  const std::string extra = attr<std::string>(attrs, "extra");
  size_t next = 2;
  Tensor w = extra.find('w') != std::string::npos ? in.at(next++) : Tensor();
  Tensor pw = extra.find('p') != std::string::npos ? in.at(next++) : Tensor();
  return {binary_cross_entropy_with_logits(in[0], in[1], w, pw, attr<std::string>(attrs, "reduction"))};
}

}  // namespace tessera::parity
