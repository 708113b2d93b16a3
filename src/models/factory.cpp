// build_model: JSON model descriptions -> modules. Every key is checked
// against the type's known keys so a typo in a recipe is an error, not a
// silently ignored setting.
#include "tessera/models/factory.h"

#include <nlohmann/json.hpp>
#include <set>

#include "tessera/core/error.h"
#include "tessera/models/cnn.h"
#include "tessera/models/mlp.h"
#include "tessera/models/vit.h"

namespace tessera::models {

namespace {

using nlohmann::json;

void check_keys(const json& j, const std::string& type, const std::set<std::string>& allowed) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "type" || allowed.count(it.key())) continue;
    std::string list;
    for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
    throw Error("model '" + type + "': unknown key '" + it.key() + "' (known: " + list + ")");
  }
}

template <class T>
T get(const json& j, const std::string& type, const char* key, T fallback) {
  if (!j.contains(key)) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error("model '" + type + "': key '" + key + "' has the wrong type (" + j.at(key).dump() + ")");
  }
}

// Images: (C, H, W); (H, W) counts as one channel.
void image_dims(const Shape& s, const std::string& type, int64_t& c, int64_t& h, int64_t& w) {
  if (s.size() == 2) {
    c = 1, h = s[0], w = s[1];
  } else if (s.size() == 3) {
    c = s[0], h = s[1], w = s[2];
  } else {
    throw ShapeError("model '" + type + "' needs image inputs (C, H, W), got examples of shape " + shape_str(s));
  }
}

}  // namespace

std::shared_ptr<nn::Module> build_model(const std::string& model_json, const Shape& example_shape,
                                        int64_t num_outputs) {
  json j;
  try {
    j = json::parse(model_json);
  } catch (const json::exception& e) {
    throw Error(std::string("model config is not valid JSON: ") + e.what());
  }
  TSR_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), Error,
            "model config needs a \"type\" (mlp, lenet5, cnn or vit), got ", j.dump());
  TSR_CHECK(num_outputs > 0, Error, "model: number of outputs must be positive, got ", num_outputs);
  std::string type = j["type"];
  if (type == "mlp") {
    check_keys(j, type, {"hidden", "activation", "dropout"});
    MLPOptions o;
    o.in_features = shape_numel(example_shape);
    o.out_features = num_outputs;
    o.hidden = get(j, type, "hidden", o.hidden);
    o.activation = get(j, type, "activation", o.activation);
    o.dropout = get(j, type, "dropout", o.dropout);
    return std::make_shared<MLP>(o);
  }
  if (type == "lenet5") {
    check_keys(j, type, {});
    LeNet5Options o;
    image_dims(example_shape, type, o.in_channels, o.height, o.width);
    o.num_classes = num_outputs;
    return std::make_shared<LeNet5>(o);
  }
  if (type == "cnn") {
    check_keys(j, type, {"channels", "kernel_size", "hidden", "dropout"});
    SimpleCNNOptions o;
    image_dims(example_shape, type, o.in_channels, o.height, o.width);
    o.num_classes = num_outputs;
    o.channels = get(j, type, "channels", o.channels);
    o.kernel_size = get(j, type, "kernel_size", o.kernel_size);
    o.hidden = get(j, type, "hidden", o.hidden);
    o.dropout = get(j, type, "dropout", o.dropout);
    return std::make_shared<SimpleCNN>(o);
  }
  if (type == "vit") {
    check_keys(j, type, {"patch_size", "dim", "depth", "heads", "mlp_dim", "dropout", "activation"});
    ViTOptions o;
    image_dims(example_shape, type, o.in_channels, o.height, o.width);
    o.num_classes = num_outputs;
    o.patch_size = get(j, type, "patch_size", o.patch_size);
    o.dim = get(j, type, "dim", o.dim);
    o.depth = get(j, type, "depth", o.depth);
    o.heads = get(j, type, "heads", o.heads);
    o.mlp_dim = get(j, type, "mlp_dim", o.mlp_dim);
    o.dropout = get(j, type, "dropout", o.dropout);
    o.activation = get(j, type, "activation", o.activation);
    return std::make_shared<ViT>(o);
  }
  throw Error("unknown model type '" + type + "' (expected mlp, lenet5, cnn or vit)");
}

}  // namespace tessera::models
