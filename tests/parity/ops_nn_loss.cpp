// Parity registrations: loss modules, L1/L2 penalties and gradient clipping.
#include <limits>

#include "registry.h"
#include "tessera/nn/loss.h"
#include "tessera/nn/regularization.h"

namespace {
using namespace tessera;
using parity::attr;

Tensor opt_input(const std::vector<Tensor>& in, size_t i) { return i < in.size() ? in[i] : Tensor(); }

// Fresh leaves whose .grad are copies of the inputs (the stand-in gradients).
std::vector<Tensor> params_with_grads(const std::vector<Tensor>& in) {
  std::vector<Tensor> ps;
  for (const Tensor& g : in) {
    Tensor p = zeros(g.shape(), {.dtype = g.dtype()});
    p.set_requires_grad(true);
    p.set_grad(g.contiguous().clone());
    ps.push_back(p);
  }
  return ps;
}

}  // namespace

PARITY_OP(nn_cross_entropy) {
  nn::CrossEntropyLoss m({opt_input(in, 2), attr<int64_t>(attrs, "ignore_index"), attr<double>(attrs, "label_smoothing"),
                          attr<std::string>(attrs, "reduction")});
  return {m(in[0], in[1])};
}

PARITY_OP(nn_nll_loss) {
  nn::NLLLoss m({opt_input(in, 2), attr<int64_t>(attrs, "ignore_index"), attr<std::string>(attrs, "reduction")});
  return {m(in[0], in[1])};
}

PARITY_OP(nn_mse_loss) {
  nn::MSELoss m(attr<std::string>(attrs, "reduction"));
  return {m(in[0], in[1])};
}

PARITY_OP(nn_l1_loss) {
  nn::L1Loss m(attr<std::string>(attrs, "reduction"));
  return {m(in[0], in[1])};
}

PARITY_OP(nn_bce_with_logits) {
  std::string extra = attr<std::string>(attrs, "extra");
  size_t next = 2;
  nn::BCEWithLogitsLossOptions o;
  if (extra.find('w') != std::string::npos) o.weight = in.at(next++);
  if (extra.find('p') != std::string::npos) o.pos_weight = in.at(next++);
  o.reduction = attr<std::string>(attrs, "reduction");
  nn::BCEWithLogitsLoss m(o);
  return {m(in[0], in[1])};
}

PARITY_OP(l1_penalty) { return {nn::l1_penalty(in, attr<double>(attrs, "lam"))}; }
PARITY_OP(l2_penalty) { return {nn::l2_penalty(in, attr<double>(attrs, "lam"))}; }

PARITY_OP(clip_grad_norm) {
  // JSON has no infinity: the cases spell the infinity norm "inf".
  const auto& nt = attrs.at("norm_type");
  double norm_type = nt.is_string() ? std::numeric_limits<double>::infinity() : nt.get<double>();
  auto ps = params_with_grads(in);
  double total = nn::clip_grad_norm_(ps, attr<double>(attrs, "max_norm"), norm_type);
  std::vector<Tensor> outs;
  for (const Tensor& p : ps) outs.push_back(p.grad());
  outs.push_back(scalar_tensor(total, {.dtype = in.at(0).dtype()}));
  return outs;
}

PARITY_OP(clip_grad_value) {
  auto ps = params_with_grads(in);
  nn::clip_grad_value_(ps, attr<double>(attrs, "clip_value"));
  std::vector<Tensor> outs;
  for (const Tensor& p : ps) outs.push_back(p.grad());
  return outs;
}
