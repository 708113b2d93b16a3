// `tessera train` checkpoints (step folders of checkpoint/folders.h): step-N/ holds
//   model.safetensors   the model's state_dict under PyTorch names
//   config.json         {"format_version": 1, "step": N, "recipe": {...},
//                        "input_shape": [...], "num_outputs": K, "data_state": ...}
//   optimizer.bin       Optimizer::save (magic TSROPTIM)
//   scheduler.bin       StatefulScheduler::save (magic TSRSCHED)
//   trainer_state.json  counters, RNG states, data-loader position, best metric
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/nn/module.h"

namespace tessera::train {

// A model rebuilt from a checkpoint folder (config.json + model.safetensors),
// with what `tessera eval` needs to rebuild its test data. JSON as text.
struct LoadedCheckpoint {
  std::shared_ptr<nn::Module> model;
  int64_t step = 0;
  std::string task;              // "classification" / "regression"
  std::string recipe_json;       // the training recipe
  std::string data_json;         // its "data" section
  std::string data_state_json;   // fitted data state (normalization, class count)
  std::vector<std::string> class_names;
  uint64_t seed = 0;
};
// `dir` is a step-N folder, or a run's output folder: the checkpoint its summary.json
// was tested with ("tested_checkpoint_step", the best one under early stopping), else the newest.
LoadedCheckpoint load_checkpoint_model(const std::string& dir);

}  // namespace tessera::train
