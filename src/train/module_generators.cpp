// A model's random streams by module path (train/module_generators.h).
#include "train/module_generators.h"

#include "tessera/models/bert.h"
#include "tessera/models/classifier.h"
#include "tessera/models/gpt.h"
#include "tessera/nn/attention.h"
#include "tessera/nn/layers.h"

using nlohmann::json;

namespace tessera::train {

std::vector<std::pair<std::string, Generator*>> module_generators(nn::Module& model) {
  std::vector<std::pair<std::string, Generator*>> out;
  for (auto& [name, mod] : model.named_modules()) {
    if (auto* d = dynamic_cast<nn::Dropout*>(mod)) out.emplace_back(name, &d->generator());
    else if (auto* a = dynamic_cast<nn::MultiheadAttention*>(mod)) out.emplace_back(name, &a->generator());
    else if (auto* g = dynamic_cast<models::GPT*>(mod)) out.emplace_back(name, &g->dropout_generator());
    else if (auto* b = dynamic_cast<models::BertModel*>(mod)) out.emplace_back(name, &b->dropout_generator());
    else if (auto* c = dynamic_cast<models::SequenceClassifier*>(mod)) out.emplace_back(name, &c->dropout_generator());
    else if (auto* l = dynamic_cast<nn::Linear*>(mod); l && l->has_lora()) out.emplace_back(name, &l->lora_generator());
  }
  return out;
}

json save_module_generators(nn::Module& model) {
  json out = json::object();
  for (auto& [name, g] : module_generators(model)) out[name] = {g->seed(), g->offset()};
  return out;
}

void load_module_generators(nn::Module& model, const json& saved, const std::string& dir) {
  for (auto& [name, g] : module_generators(model)) {
    std::string key = name;
    if (!saved.contains(key)) {
      const bool dotted = !name.empty() && name.back() == '.';
      key = dotted ? name.substr(0, name.size() - 1) : name + ".";
    }
    TSR_CHECK(saved.contains(key), Error, "checkpoint ", dir, ": no RNG state for module '", name, "'");
    g->set_state(saved.at(key).at(0), saved.at(key).at(1));
  }
}

}  // namespace tessera::train
