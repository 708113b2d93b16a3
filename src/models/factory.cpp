// build_model: JSON model descriptions -> modules. Every key is checked
// against the type's known keys (io/json_reader.h) so a typo in a recipe is
// an error, not a silently ignored setting.
#include "tessera/models/factory.h"

#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "tessera/core/error.h"
#include "tessera/models/cnn.h"
#include "tessera/models/mlp.h"
#include "tessera/models/vit.h"

namespace tessera::models {

namespace {

using nlohmann::json;

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
  const json j = io::parse_json(model_json, "model config is not valid JSON: ");
  TSR_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(), Error,
            "model config needs a \"type\" (mlp, lenet5, cnn or vit), got ", j.dump());
  TSR_CHECK(num_outputs > 0, Error, "model: number of outputs must be positive, got ", num_outputs);
  std::string type = j["type"];
  // Each type's keys (plus "type"); messages read "model 'mlp': unknown key ...".
  io::JsonReader r(j, "model '" + type + "'");
  if (type == "mlp") {
    r.known_keys({"type", "hidden", "activation", "dropout"});
    MLPOptions o;
    o.in_features = shape_numel(example_shape);
    o.out_features = num_outputs;
    r.read("hidden", o.hidden);
    r.read("activation", o.activation);
    r.read("dropout", o.dropout);
    return std::make_shared<MLP>(o);
  }
  if (type == "lenet5") {
    r.known_keys({"type"});
    LeNet5Options o;
    image_dims(example_shape, type, o.in_channels, o.height, o.width);
    o.num_classes = num_outputs;
    return std::make_shared<LeNet5>(o);
  }
  if (type == "cnn") {
    r.known_keys({"type", "channels", "kernel_size", "hidden", "dropout"});
    SimpleCNNOptions o;
    image_dims(example_shape, type, o.in_channels, o.height, o.width);
    o.num_classes = num_outputs;
    r.read("channels", o.channels);
    r.read("kernel_size", o.kernel_size);
    r.read("hidden", o.hidden);
    r.read("dropout", o.dropout);
    return std::make_shared<SimpleCNN>(o);
  }
  if (type == "vit") {
    r.known_keys({"type", "patch_size", "dim", "depth", "heads", "mlp_dim", "dropout", "activation"});
    ViTOptions o;
    image_dims(example_shape, type, o.in_channels, o.height, o.width);
    o.num_classes = num_outputs;
    r.read("patch_size", o.patch_size);
    r.read("dim", o.dim);
    r.read("depth", o.depth);
    r.read("heads", o.heads);
    r.read("mlp_dim", o.mlp_dim);
    r.read("dropout", o.dropout);
    r.read("activation", o.activation);
    return std::make_shared<ViT>(o);
  }
  throw Error("unknown model type '" + type + "' (expected mlp, lenet5, cnn or vit)");
}

}  // namespace tessera::models
