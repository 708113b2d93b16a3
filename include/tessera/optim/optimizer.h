// Optimizer: the base of SGD, Adam and AdamW. Parameters live in groups, each
// with its own copy of the optimizer's options (lr, weight decay, momentum,
// betas...), as torch.optim's param_groups. Per-parameter state (step count,
// moment buffers) is indexed by the parameter's position across groups, which
// is torch's numbering in optimizer.state_dict(), so state files are stable as
// long as the same parameters are passed in the same order.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::nn {
class Module;
}

namespace tessera::optim {

// A group as the user describes it: its tensors and optional overrides of the
// optimizer's default lr and weight decay. Other options can be changed per
// group after construction through options(g).
struct ParamGroupSpec {
  std::vector<Tensor> params;
  std::string name;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

// The usual split for transformer-style training: "decay" holds the matrices
// and kernels (dim >= 2) with `weight_decay`; "no_decay" holds biases and norm
// weights (dim <= 1) with weight decay 0. Frozen parameters are left out. Both
// groups are always returned (possibly empty), so group indices are stable.
// `no_decay` overrides the dim <= 1 rule (it gets the full parameter name).
using NoDecayRule = std::function<bool(const std::string& name, const Tensor& param)>;
std::vector<ParamGroupSpec> decay_groups(const nn::Module& module, double weight_decay,
                                         const NoDecayRule& no_decay = {});
std::vector<ParamGroupSpec> decay_groups(const std::vector<std::pair<std::string, Tensor>>& named_params,
                                         double weight_decay, const NoDecayRule& no_decay = {});

// State of one parameter. Buffers use torch's names: "momentum_buffer" (SGD),
// "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (Adam/AdamW). Empty until the
// parameter's first step with a gradient.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> buffers;
};

// Everything needed to resume: the equivalent of torch's optimizer.state_dict().
struct OptimizerState {
  struct Group {
    std::string name;
    std::vector<int64_t> params;           // global parameter indices
    std::map<std::string, double> options;  // lr, weight_decay, ... (bools as 0/1)
  };
  std::string type;  // "SGD", "Adam", "AdamW"
  std::vector<Group> groups;
  std::vector<ParamState> state;  // one per parameter index
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, in place, without
  // recording history. Parameters without a gradient are skipped (as torch).
  virtual void step() = 0;
  // set_to_none drops the gradients (cheapest, torch's default since 2.0);
  // otherwise existing gradients are zeroed in place.
  void zero_grad(bool set_to_none = true);

  const std::string& type_name() const { return type_; }
  virtual size_t num_groups() const = 0;
  virtual const std::vector<Tensor>& group_params(size_t group) const = 0;
  virtual const std::string& group_name(size_t group) const = 0;
  virtual double lr(size_t group) const = 0;
  virtual void set_lr(size_t group, double lr) = 0;
  std::vector<double> lrs() const;
  std::vector<Tensor> parameters() const;  // all groups, in index order

  // State of parameter `index` (global, across groups).
  const ParamState& param_state(size_t index) const;
  size_t num_params() const { return state_.size(); }

  // ---- save / resume ----
  // Deep copies: stepping after state_dict() does not change the returned state.
  OptimizerState state_dict() const;
  // Checks the type, the group layout and every buffer's shape and dtype
  // against the parameters; the error names the group, parameter and shapes.
  void load_state_dict(const OptimizerState& state);
  // Versioned binary file (magic "TSROPTIM" + version, JSON metadata, raw
  // tensor bytes), written atomically: temp file, fsync, rename.
  void save(const std::string& path) const;
  void load(const std::string& path);

 protected:
  explicit Optimizer(std::string type) : type_(std::move(type)) {}
  // Options of group g as name -> value, and back (unknown names are errors).
  virtual std::map<std::string, double> group_options(size_t group) const = 0;
  virtual void set_group_options(size_t group, const std::map<std::string, double>& values) = 0;

  // Validates a new group's tensors (floating, leaves, not already present)
  // and gives them state slots. Returns the global index of the first one.
  size_t add_params(const std::vector<Tensor>& params, const std::string& group_name);
  ParamState& mutable_state(size_t index) { return state_.at(index); }
  size_t first_index(size_t group) const { return group_offsets_.at(group); }

 private:
  std::string type_;
  std::vector<ParamState> state_;
  std::vector<size_t> group_offsets_;
};

// Typed groups for an optimizer whose options struct `Options` has `lr` and
// `weight_decay` members, `validate(who)` (throws naming the bad option) and
// `visit(f)` calling f(name, field&) for each field (double or bool), which
// drives state files and load checks.
template <class Options>
class OptimizerWith : public Optimizer {
 public:
  struct Group {
    std::string name;
    std::vector<Tensor> params;
    Options options;
  };

  size_t num_groups() const override { return groups_.size(); }
  const std::vector<Tensor>& group_params(size_t g) const override { return group(g).params; }
  const std::string& group_name(size_t g) const override { return group(g).name; }
  double lr(size_t g) const override { return group(g).options.lr; }
  void set_lr(size_t g, double lr) override { mutable_group(g).options.lr = lr; }
  const Options& options(size_t g) const { return group(g).options; }
  Options& options(size_t g) { return mutable_group(g).options; }
  const Options& defaults() const { return defaults_; }

  // Appends a group (torch's add_param_group); unset overrides come from the defaults.
  void add_param_group(const ParamGroupSpec& spec) {
    Group grp{spec.name.empty() ? std::to_string(groups_.size()) : spec.name, spec.params, defaults_};
    if (spec.lr) grp.options.lr = *spec.lr;
    if (spec.weight_decay) grp.options.weight_decay = *spec.weight_decay;
    grp.options.validate(type_name().c_str());
    add_params(grp.params, grp.name);
    groups_.push_back(std::move(grp));
  }

 protected:
  OptimizerWith(std::string type, const std::vector<ParamGroupSpec>& specs, const Options& defaults)
      : Optimizer(std::move(type)), defaults_(defaults) {
    defaults_.validate(type_name().c_str());
    TSR_CHECK(!specs.empty(), Error, type_name(), ": got no parameter groups");
    for (const auto& s : specs) add_param_group(s);
  }
  const Group& group(size_t g) const {
    TSR_CHECK(g < groups_.size(), IndexError, type_name(), ": group ", g, " out of range (", groups_.size(), " groups)");
    return groups_[g];
  }
  Group& mutable_group(size_t g) { return const_cast<Group&>(group(g)); }

  std::map<std::string, double> group_options(size_t g) const override {
    std::map<std::string, double> out;
    Options o = group(g).options;
    o.visit([&](const char* name, auto& v) { out[name] = static_cast<double>(v); });
    return out;
  }
  void set_group_options(size_t g, const std::map<std::string, double>& values) override {
    Options o = group(g).options;
    size_t used = 0;
    o.visit([&](const char* name, auto& v) {
      auto it = values.find(name);
      TSR_CHECK(it != values.end(), Error, type_name(), ": state for group '", group(g).name, "' lacks option '", name,
                "'");
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) v = it->second != 0.0;
      else v = it->second;
      ++used;
    });
    TSR_CHECK(used == values.size(), Error, type_name(), ": state for group '", group(g).name,
              "' has options this optimizer does not know (", values.size() - used, " extra)");
    o.validate(type_name().c_str());
    mutable_group(g).options = o;
  }

  std::vector<Group> groups_;
  Options defaults_;
};

}  // namespace tessera::optim
