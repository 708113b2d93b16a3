// MLP: the layer stack of models/mlp.h.
#include "tessera/models/mlp.h"

#include "tessera/core/error.h"

namespace tessera::models {

std::shared_ptr<nn::Module> make_activation(const std::string& name) {
  if (name == "relu") return std::make_shared<nn::ReLU>();
  if (name == "gelu") return std::make_shared<nn::GELU>();
  if (name == "tanh") return std::make_shared<nn::Tanh>();
  if (name == "sigmoid") return std::make_shared<nn::Sigmoid>();
  if (name == "silu") return std::make_shared<nn::SiLU>();
  throw Error("unknown activation '" + name + "' (expected relu, gelu, tanh, sigmoid or silu)");
}

MLP::MLP(const MLPOptions& o) : options(o) {
  TSR_CHECK(o.in_features > 0 && o.out_features > 0, Error, "MLP: in_features (", o.in_features,
            ") and out_features (", o.out_features, ") must be positive");
  TSR_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, Error, "MLP: dropout must be in [0, 1), got ", o.dropout);
  push_back(std::make_shared<nn::Flatten>());
  int64_t in = o.in_features;
  for (int64_t h : o.hidden) {
    TSR_CHECK(h > 0, Error, "MLP: hidden sizes must be positive, got ", h);
    push_back(std::make_shared<nn::Linear>(in, h));
    push_back(make_activation(o.activation));
    if (o.dropout > 0.0) push_back(std::make_shared<nn::Dropout>(o.dropout));
    in = h;
  }
  push_back(std::make_shared<nn::Linear>(in, o.out_features));
}

}  // namespace tessera::models
