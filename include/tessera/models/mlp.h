// Multi-layer perceptron classifier / regressor: flatten the input, then
// Linear -> activation -> Dropout for each hidden size, then a final Linear.
// Children are named as the equivalent torch.nn.Sequential(Flatten(),
// Linear, ReLU, Dropout, ..., Linear) would number them ("1.weight", ...), so
// a torch state_dict of that Sequential loads by name.
#pragma once
#include <string>
#include <vector>

#include "tessera/nn/layers.h"

namespace tessera::models {

struct MLPOptions {
  int64_t in_features = 0;
  std::vector<int64_t> hidden = {256};
  int64_t out_features = 10;
  std::string activation = "relu";  // "relu", "gelu", "tanh", "sigmoid", "silu"
  double dropout = 0.0;             // after each hidden activation; 0 = no Dropout module
};

class MLP : public nn::Sequential {
 public:
  explicit MLP(const MLPOptions& o);
  MLPOptions options;
};

// An activation module by name; throws naming the unknown name and the choices.
std::shared_ptr<nn::Module> make_activation(const std::string& name);

}  // namespace tessera::models
