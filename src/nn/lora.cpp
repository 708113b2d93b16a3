// LoRA selection, freezing, saving and merging (nn/lora.h).
#include "tessera/nn/lora.h"

#include <sstream>

#include "tessera/core/error.h"
#include "tessera/core/random.h"
#include "tessera/nn/layers.h"

namespace tessera::nn {

namespace {

bool ends_with_component(const std::string& path, const std::string& target) {
  if (path == target) return true;
  return path.size() > target.size() && path.compare(path.size() - target.size(), target.size(), target) == 0 &&
         path[path.size() - target.size() - 1] == '.';
}

// A name component equal to lora_A or lora_B: the adapters' own modules and parameters.
bool is_lora_name(const std::string& name) {
  for (const char* part : {"lora_A", "lora_B"}) {
    const std::string p = part;
    size_t at = 0;
    while ((at = name.find(p, at)) != std::string::npos) {
      const bool left = at == 0 || name[at - 1] == '.';
      const bool right = at + p.size() == name.size() || name[at + p.size()] == '.';
      if (left && right) return true;
      at += p.size();
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> apply_lora(Module& root, const LoraOptions& options, uint64_t seed) {
  // Collect first: enabling adds children, which would disturb the traversal.
  std::vector<std::pair<std::string, Linear*>> linears, chosen;
  for (auto& [name, m] : root.named_modules())
    if (auto* lin = dynamic_cast<Linear*>(m); lin && !is_lora_name(name)) linears.emplace_back(name, lin);
  for (auto& [name, lin] : linears)
    for (const auto& t : options.targets)
      if (!t.empty() && ends_with_component(name, t)) {
        chosen.emplace_back(name, lin);
        break;
      }
  if (chosen.empty()) {
    std::ostringstream os;
    os << "apply_lora: no Linear layer of " << root.type_name() << " matches the targets [";
    for (size_t i = 0; i < options.targets.size(); ++i) os << (i ? ", " : "") << "'" << options.targets[i] << "'";
    os << "]; its Linear layers are:";
    if (linears.empty()) os << " (none)";
    for (auto& [name, lin] : linears) os << " " << (name.empty() ? "<root>" : name);
    throw Error(os.str());
  }
  Generator gen(seed);
  std::vector<std::string> out;
  for (auto& [name, lin] : chosen) {
    lin->enable_lora(options.rank, options.alpha, options.dropout, gen);
    out.push_back(name);
  }
  return out;
}

void mark_only_lora_trainable(Module& root, const std::vector<std::string>& also_trainable_prefixes) {
  for (auto& [name, t] : root.named_parameters()) {
    bool on = is_lora_name(name);
    for (const auto& p : also_trainable_prefixes) on = on || (!p.empty() && name.compare(0, p.size(), p) == 0);
    root.parameter(name).set_requires_grad(on);
  }
}

StateDict lora_state_dict(const Module& root) {
  StateDict out;
  for (auto& [name, t] : root.state_dict())
    if (is_lora_name(name)) out[name] = t;
  return out;
}

int64_t merge_all_lora(Module& root) {
  std::vector<Linear*> adapted;  // collected first: merging removes modules
  for (auto& [name, m] : root.named_modules())
    if (auto* lin = dynamic_cast<Linear*>(m); lin && lin->has_lora()) adapted.push_back(lin);
  for (Linear* lin : adapted) lin->merge_lora();
  return static_cast<int64_t>(adapted.size());
}

}  // namespace tessera::nn
