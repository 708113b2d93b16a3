// Parity registrations: Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d modules
// (weights bound by name from torch's; BatchNorm returns its updated buffers).
#include "registry.h"
#include "tessera/nn/batchnorm.h"
#include "tessera/nn/conv.h"

namespace {
using namespace tessera;
using parity::attr;

Pair pair_attr(const nlohmann::json& attrs, const char* key) {
  auto v = attr<std::vector<int64_t>>(attrs, key);
  return {v.at(0), v.at(1)};
}

template <typename BN>
std::vector<Tensor> run_batchnorm(const std::vector<Tensor>& in, const nlohmann::json& attrs) {
  nn::BatchNormOptions o;
  o.num_features = attr<int64_t>(attrs, "c");
  o.eps = attr<double>(attrs, "eps");
  o.momentum = attrs.at("momentum").is_null() ? std::nullopt : std::optional<double>(attr<double>(attrs, "momentum"));
  o.affine = attr<bool>(attrs, "affine");
  o.track_running_stats = attr<bool>(attrs, "track");
  BN m(o);
  if (attrs.contains("running_mean")) {
    NoGradGuard ng;
    auto rm = attr<std::vector<double>>(attrs, "running_mean");
    auto rv = attr<std::vector<double>>(attrs, "running_var");
    m.running_mean.copy_(from_vector<double>(rm, {o.num_features}));
    m.running_var.copy_(from_vector<double>(rv, {o.num_features}));
  }
  parity::bind_params(m, in, 1, attrs);
  std::vector<Tensor> outs{m(in[0])};
  const int64_t steps = attr<int64_t>(attrs, "steps");
  for (int64_t s = 1; s < steps; ++s) outs.push_back(m(in[0] * 0.5 + 1.0));
  if (m.is_training() && o.track_running_stats) {
    outs.push_back(m.running_mean.clone());
    outs.push_back(m.running_var.clone());
    if (steps > 1) outs.push_back(m.num_batches_tracked.clone());
  }
  return outs;
}

}  // namespace

PARITY_OP(nn_conv2d) {
  nn::Conv2dOptions o{attr<int64_t>(attrs, "in"),   attr<int64_t>(attrs, "out"),     pair_attr(attrs, "k"),
                      pair_attr(attrs, "stride"),   pair_attr(attrs, "padding"),     pair_attr(attrs, "dilation"),
                      attr<int64_t>(attrs, "groups"), attr<bool>(attrs, "bias")};
  nn::Conv2d m(o);
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}

PARITY_OP(nn_maxpool2d) {
  nn::MaxPool2d m(nn::MaxPool2dOptions{pair_attr(attrs, "k"), pair_attr(attrs, "stride"), pair_attr(attrs, "padding"),
                                       pair_attr(attrs, "dilation"), attr<bool>(attrs, "ceil_mode")});
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}

PARITY_OP(nn_avgpool2d) {
  nn::AvgPool2d m(nn::AvgPool2dOptions{pair_attr(attrs, "k"), pair_attr(attrs, "stride"), pair_attr(attrs, "padding"),
                                       attr<bool>(attrs, "ceil_mode"), attr<bool>(attrs, "count_include_pad")});
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}

PARITY_OP(nn_batchnorm1d) { return run_batchnorm<nn::BatchNorm1d>(in, attrs); }
PARITY_OP(nn_batchnorm2d) { return run_batchnorm<nn::BatchNorm2d>(in, attrs); }
