// Module: the base of every layer. Parameters, buffers and submodules are
// registered under names, and their hierarchical names ("encoder.layers.0.
// self_attn.in_proj_weight") are exactly PyTorch's state_dict keys, so weights
// move between PyTorch / Hugging Face files and Tessera by name.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }
  // Hierarchical name inside the model it was registered into ("" for a root),
  // e.g. "encoder.layers.0.linear1". Kept current as modules are nested.
  const std::string& path() const { return path_; }
  // For error messages: `Linear 'encoder.layers.0.linear1'` (or just the type at the root).
  std::string qualified_name() const { return path_.empty() ? type_name_ : type_name_ + " '" + path_ + "'"; }

  // Single-tensor forward, for modules that take one input (Sequential uses
  // it). Modules with other signatures provide their own forward overloads.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- traversal (registration order, as PyTorch) ----
  NamedTensors named_parameters(bool recurse = true) const;  // skips unset (None) parameters
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  // Every module with its name relative to this one, as torch: "" (this one),
  // "encoder", "encoder.layer", "encoder.layer.0", ... For a root module the
  // name equals the module's path().
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }

  // ---- state ----
  StateDict state_dict() const;  // parameters + persistent buffers, detached handles
  // Copies values in by name. strict: any missing or unexpected key is an
  // error; a shape mismatch is always an error. The message lists every
  // problem with its full name and both shapes.
  void load_state_dict(const StateDict& state, bool strict = true);
  // Replace the tensor held under a hierarchical name (weight tying, or
  // binding external leaves in tests). Shapes must match.
  void set_parameter(const std::string& name, const Tensor& value);
  Tensor& parameter(const std::string& name);  // throws listing the valid names

  // ---- mode and gradients ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  void requires_grad_(bool on);  // freeze (false) or unfreeze all parameters
  void apply(const std::function<void(const std::string&, Module&)>& fn);
  int64_t num_parameters() const;

 protected:
  // Returns a reference that stays valid for the module's life; derived
  // classes keep it as a member. An undefined tensor registers a None
  // parameter (absent from state_dict, like bias=False).
  Tensor& register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor value, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  // Unregisters a child (LoRA's merge drops its adapters); throws when absent.
  void remove_child(const std::string& name);
  bool training_ = true;

 private:
  struct Slot {
    std::string name;
    Tensor value;
    bool persistent = true;
  };
  Slot* find_local(std::vector<std::unique_ptr<Slot>>& slots, const std::string& name);
  void set_path(const std::string& path);
  std::string type_name_;
  std::string path_;
  std::vector<std::unique_ptr<Slot>> params_;
  std::vector<std::unique_ptr<Slot>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Sequential: runs children in order through their single-tensor forward.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return named_children().size(); }
};

// ModuleList: holds children named "0", "1", ... without a forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  void push_back(std::shared_ptr<Module> m);
  size_t size() const { return items_.size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return items_.at(i); }
  template <typename M>
  std::shared_ptr<M> at(size_t i) const {
    return std::dynamic_pointer_cast<M>(items_.at(i));
  }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

}  // namespace tessera::nn
