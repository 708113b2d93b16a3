// Parity registrations: basic nn modules (weights bound by name from torch's).
#include "registry.h"
#include "tessera/nn/layers.h"

namespace {
using namespace tessera;
using parity::attr;
}  // namespace

PARITY_OP(nn_linear) {
  nn::Linear m(nn::LinearOptions{attr<int64_t>(attrs, "in"), attr<int64_t>(attrs, "out"), attr<bool>(attrs, "bias")});
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_embedding) {
  nn::EmbeddingOptions o{attr<int64_t>(attrs, "num"), attr<int64_t>(attrs, "dim"), std::nullopt};
  if (!attrs.at("padding_idx").is_null()) o.padding_idx = attr<int64_t>(attrs, "padding_idx");
  nn::Embedding m(o);
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_layernorm) {
  nn::LayerNorm m(nn::LayerNormOptions{attr<Shape>(attrs, "shape"), attr<double>(attrs, "eps")});
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_rmsnorm) {
  nn::RMSNorm m(nn::RMSNormOptions{attr<Shape>(attrs, "shape")});
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_dropout_p0) {
  nn::Dropout m(0.0);
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_dropout_eval) {
  nn::Dropout m(0.5);
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_flatten) {
  nn::Flatten m;
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_gelu_tanh) {
  nn::GELU m("tanh");
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
PARITY_OP(nn_mlp) {
  auto lin = [](int64_t a, int64_t b) { return std::make_shared<nn::Linear>(a, b); };
  nn::Sequential m({lin(4, 8), std::make_shared<nn::ReLU>(), lin(8, 8), std::make_shared<nn::GELU>(), lin(8, 8),
                    std::make_shared<nn::Tanh>(), lin(8, 8), std::make_shared<nn::SiLU>(), lin(8, 8),
                    std::make_shared<nn::Sigmoid>(), lin(8, 3), std::make_shared<nn::Softmax>(-1)});
  parity::bind_params(m, in, 1, attrs);
  return {m(in[0])};
}
