// Module registration, traversal and state_dict handling.
#include "tessera/nn/module.h"

#include <set>
#include <sstream>

#include "tessera/autograd/grad_mode.h"

namespace tessera::nn {

Tensor Module::forward(const Tensor&) {
  throw Error(type_name_ + ": this module does not take a single tensor input; call its own forward overload");
}

Module::Slot* Module::find_local(std::vector<std::unique_ptr<Slot>>& slots, const std::string& name) {
  for (auto& s : slots)
    if (s->name == name) return s.get();
  return nullptr;
}

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  TSR_CHECK(!name.empty() && name.find('.') == std::string::npos, Error, type_name_, ": invalid parameter name '",
            name, "'");
  TSR_CHECK(!find_local(params_, name), Error, type_name_, ": parameter '", name, "' registered twice");
  if (value.defined()) {
    value = value.detach();
    if (requires_grad) value.set_requires_grad(true);
  }
  params_.push_back(std::make_unique<Slot>(Slot{name, value, true}));
  return params_.back()->value;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  TSR_CHECK(!find_local(buffers_, name), Error, type_name_, ": buffer '", name, "' registered twice");
  buffers_.push_back(std::make_unique<Slot>(Slot{name, value.defined() ? value.detach() : value, persistent}));
  return buffers_.back()->value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  TSR_CHECK(module != nullptr, Error, type_name_, ": submodule '", name, "' is null");
  for (auto& [n, m] : children_) TSR_CHECK(n != name, Error, type_name_, ": submodule '", name, "' registered twice");
  module->set_path(path_.empty() ? name : path_ + "." + name);
  children_.emplace_back(name, std::move(module));
}

void Module::remove_child(const std::string& name) {
  for (auto it = children_.begin(); it != children_.end(); ++it)
    if (it->first == name) {
      it->second->set_path("");  // it is a root again
      children_.erase(it);
      return;
    }
  throw Error(type_name_ + ": no submodule named '" + name + "' to remove");
}

void Module::set_path(const std::string& path) {
  path_ = path;
  for (auto& [n, child] : children_) child->set_path(path + "." + n);
}

static std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// named_parameters and named_buffers: the defined tensors of `slots`, then
// (recurse) each child's, from of_child(child), under "<child name>.".
template <class Slots, class Children, class OfChild>
static NamedTensors collect_named(const Slots& slots, const Children& children, bool recurse, OfChild of_child) {
  NamedTensors out;
  for (auto& s : slots)
    if (s->value.defined()) out.emplace_back(s->name, s->value);
  if (recurse)
    for (auto& [cn, child] : children)
      for (auto& [n, t] : of_child(*child)) out.emplace_back(join(cn, n), t);
  return out;
}

NamedTensors Module::named_parameters(bool recurse) const {
  return collect_named(params_, children_, recurse, [](const Module& m) { return m.named_parameters(true); });
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  // Deduplicate shared (tied) parameters, as torch does.
  std::set<TensorImpl*> seen;
  for (auto& [n, t] : named_parameters(recurse))
    if (seen.insert(t.unsafe_impl()).second) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  return collect_named(buffers_, children_, recurse, [](const Module& m) { return m.named_buffers(true); });
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  // A child's own entry is named "" inside it: it becomes just `cn` here, not
  // "cn." (torch's names, and the paths of Module::path()).
  for (auto& [cn, child] : children_)
    for (auto& [n, m] : child->named_modules()) out.emplace_back(n.empty() ? cn : cn + "." + n, m);
  return out;
}

StateDict Module::state_dict() const {
  StateDict out;
  for (auto& [n, t] : named_parameters()) out[n] = t.detach();
  std::function<void(const Module&, const std::string&)> bufs = [&](const Module& m, const std::string& prefix) {
    for (auto& s : m.buffers_)
      if (s->value.defined() && s->persistent) out[join(prefix, s->name)] = s->value.detach();
    for (auto& [cn, child] : m.children_) bufs(*child, join(prefix, cn));
  };
  bufs(*this, "");
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  // Collect every slot by full name first so all problems are reported at once.
  std::map<std::string, Tensor*> slots;
  std::function<void(Module&, const std::string&)> collect = [&](Module& m, const std::string& prefix) {
    for (auto& s : m.params_)
      if (s->value.defined()) slots[join(prefix, s->name)] = &s->value;
    for (auto& s : m.buffers_)
      if (s->value.defined() && s->persistent) slots[join(prefix, s->name)] = &s->value;
    for (auto& [cn, child] : m.children_) collect(*child, join(prefix, cn));
  };
  collect(*this, "");
  std::vector<std::string> missing, unexpected, mismatched;
  for (auto& [name, slot] : slots) {
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
    } else if (it->second.shape() != slot->shape()) {
      mismatched.push_back(name + ": checkpoint " + shape_str(it->second.shape()) + " vs model " +
                           shape_str(slot->shape()));
    }
  }
  for (auto& [name, t] : state)
    if (!slots.count(name)) unexpected.push_back(name);
  if (!mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::ostringstream os;
    os << "load_state_dict for " << type_name_ << ":";
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      os << " " << what << " (" << v.size() << "):";
      for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << " " << v[i];
      os << ";";
    };
    if (strict) list("missing keys", missing);
    if (strict) list("unexpected keys", unexpected);
    list("shape mismatches", mismatched);
    throw ShapeError(os.str());
  }
  NoGradGuard ng;
  for (auto& [name, slot] : slots) {
    auto it = state.find(name);
    if (it != state.end()) slot->copy_(it->second);
  }
}

void Module::set_parameter(const std::string& name, const Tensor& value) {
  Tensor& slot = parameter(name);
  TSR_CHECK(slot.shape() == value.shape(), ShapeError, type_name_, ".set_parameter: '", name, "' has shape ",
            shape_str(slot.shape()), " but the new value has shape ", shape_str(value.shape()));
  slot = value;
}

Tensor& Module::parameter(const std::string& name) {
  auto dot = name.find('.');
  if (dot != std::string::npos) {
    std::string head = name.substr(0, dot);
    for (auto& [cn, child] : children_)
      if (cn == head) return child->parameter(name.substr(dot + 1));
  } else if (Slot* s = find_local(params_, name)) {
    return s->value;
  }
  std::ostringstream os;
  os << type_name_ << ": no parameter named '" << name << "'; parameters are:";
  for (auto& [n, t] : named_parameters()) os << " " << n;
  throw Error(os.str());
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [cn, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

void Module::requires_grad_(bool on) {
  for (auto& [n, t] : named_parameters()) {
    Tensor& slot = parameter(n);
    slot.set_requires_grad(on);
  }
}

void Module::apply(const std::function<void(const std::string&, Module&)>& fn) {
  for (auto& [n, m] : named_modules()) fn(n, *m);
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& t : parameters()) n += t.numel();
  return n;
}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> m) { add_child(std::to_string(size()), std::move(m)); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [n, m] : named_children()) h = m->forward(h);
  return h;
}

void ModuleList::push_back(std::shared_ptr<Module> m) {
  add_child(std::to_string(items_.size()), m);
  items_.push_back(std::move(m));
}

}  // namespace tessera::nn
