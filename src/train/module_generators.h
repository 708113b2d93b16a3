// The random streams a model owns, for checkpoints that resume bit for bit:
// every nn::Dropout and nn::MultiheadAttention stream, a GPT's, a BERT's and
// a SequenceClassifier's own dropout stream, and each LoRA adapter's. Saved
// in trainer_state.json as "rng": {"modules": {module path: [seed, offset]}}.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/nn/module.h"

namespace tessera::train {

// By module path (Module::named_modules), in a stable order.
std::vector<std::pair<std::string, Generator*>> module_generators(nn::Module& model);

// {path: [seed, offset]} for every stream of `model`.
nlohmann::json save_module_generators(nn::Module& model);

// Restores every stream of `model` from `saved`; a missing one is an error
// naming `dir`. Paths are matched with and without a trailing dot: older
// checkpoints named children "encoder.layer.0.", newer ones "encoder.layer.0".
void load_module_generators(nn::Module& model, const nlohmann::json& saved, const std::string& dir);

}  // namespace tessera::train
