// Builds a model from its JSON description (the "model" section of a
// training recipe), e.g.
//   {"type": "mlp", "hidden": [256, 128], "activation": "relu", "dropout": 0.1}
//   {"type": "lenet5"}
//   {"type": "cnn", "channels": [32, 64], "kernel_size": 3, "hidden": 128, "dropout": 0.5}
//   {"type": "vit", "patch_size": 7, "dim": 64, "depth": 4, "heads": 4, "mlp_dim": 128, "dropout": 0.1}
// The JSON travels as text so public headers need no JSON library. Unknown
// keys and bad values are errors naming the key and the model type.
#pragma once
#include <memory>
#include <string>

#include "tessera/nn/module.h"

namespace tessera::models {

// example_shape: one input without the batch dim ((C, H, W) images or (F)
// features); num_outputs: classes, or regression targets.
std::shared_ptr<nn::Module> build_model(const std::string& model_json, const Shape& example_shape,
                                        int64_t num_outputs);

}  // namespace tessera::models
