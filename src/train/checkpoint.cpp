// Loading a `tessera train` checkpoint (a step folder or a run folder) for eval.
#include "tessera/train/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/checkpoint/folders.h"
#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/factory.h"

namespace fs = std::filesystem;

namespace tessera::train {

LoadedCheckpoint load_checkpoint_model(const std::string& dir_in) {
  std::string dir = dir_in;
  TSR_CHECK(fs::is_directory(dir), Error, "checkpoint: '", dir, "' is not a folder");
  if (!fs::exists(fs::path(dir) / "config.json")) {
    // A run folder: the weights its summary.json was tested with (the best
    // checkpoint when early stopping picked one), else the newest checkpoint.
    std::optional<int64_t> pick;
    fs::path summary = fs::path(dir) / "summary.json";
    if (fs::exists(summary)) {
      std::ifstream in(summary);
      auto s = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (s.is_object() && s.contains("tested_checkpoint_step") && s["tested_checkpoint_step"].is_number_integer()) {
        int64_t st = s["tested_checkpoint_step"];
        if (fs::exists(fs::path(checkpoint::step_dir(dir, st)) / "config.json")) pick = st;
      }
    }
    if (!pick) pick = checkpoint::latest_step(dir);
    TSR_CHECK(pick.has_value(), Error, "checkpoint: '", dir,
              "' holds neither config.json nor checkpoints/step-N folders");
    dir = checkpoint::step_dir(dir, *pick);
  }
  nlohmann::json c = nlohmann::json::parse(checkpoint::read_config(dir));
  LoadedCheckpoint out;
  try {
    out.step = c.at("step");
    out.task = c.at("task");
    const auto& recipe = c.at("recipe");
    out.recipe_json = recipe.dump();
    out.data_json = recipe.contains("data") ? recipe["data"].dump() : std::string("{}");
    out.data_state_json = c.contains("data_state") ? c["data_state"].dump() : std::string("null");
    out.class_names = c.value("class_names", std::vector<std::string>{});
    out.seed = recipe.contains("train") ? recipe["train"].value("seed", uint64_t{0}) : 0;
    Shape input_shape = c.at("input_shape").get<Shape>();
    out.model = models::build_model(recipe.at("model").dump(), input_shape, c.at("num_outputs").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint: " + dir + "/config.json is missing a field: " + e.what());
  }
  auto w = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
  out.model->load_state_dict(w.tensors);
  out.model->eval();
  return out;
}

}  // namespace tessera::train
