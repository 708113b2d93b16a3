// `tessera train` checkpoints (checkpoint/train_model.h): the recipe's model
// section rebuilds the network, model.safetensors fills it.
#include "tessera/checkpoint/train_model.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/factory.h"

namespace fs = std::filesystem;

namespace tessera::checkpoint {

LoadedTrainModel load_train_model(const Found& f) {
  TSR_CHECK(f.format == Format::TesseraTrainModel, Error, f.dir, " is ", describe(f.format),
            ", not a `tessera train` checkpoint (task classification or regression)");
  const std::string& dir = f.dir;
  nlohmann::json c = nlohmann::json::parse(f.config_json);
  LoadedTrainModel out;
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

LoadedTrainModel load_train_model(const std::string& path) { return load_train_model(inspect(path)); }

}  // namespace tessera::checkpoint
