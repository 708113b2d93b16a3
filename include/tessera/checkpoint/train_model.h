// Loading a `tessera train` checkpoint (task "classification" / "regression";
// a step folder or the run folder around it, see checkpoint/inspect.h) for
// `tessera eval`: the model rebuilt from its recipe, and what eval needs to
// rebuild the test data the way training saw it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/checkpoint/inspect.h"
#include "tessera/nn/module.h"

namespace tessera::checkpoint {

// JSON sections as text.
struct LoadedTrainModel {
  std::shared_ptr<nn::Module> model;  // in eval mode
  int64_t step = 0;
  std::string task;              // "classification" / "regression"
  std::string recipe_json;       // the training recipe
  std::string data_json;         // its "data" section
  std::string data_state_json;   // fitted data state (normalization, class count)
  std::vector<std::string> class_names;
  uint64_t seed = 0;
};

// A run folder loads the checkpoint its summary.json was tested with, else the
// newest (checkpoint/inspect.h). Errors name the folder: another kind of
// checkpoint, a config.json field missing.
LoadedTrainModel load_train_model(const Found& found);
LoadedTrainModel load_train_model(const std::string& path);

}  // namespace tessera::checkpoint
