// Optimizer base: parameter bookkeeping, zero_grad, the decay / no-decay
// grouping helper, and state save / load (state_dict and versioned files).
#include "tessera/optim/optimizer.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "optim/state_file.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/nn/module.h"

namespace tessera::optim {
namespace {

constexpr char kMagic[9] = "TSROPTIM";
constexpr uint32_t kVersion = 1;
constexpr const char* kWhat = "optimizer state";

Tensor deep_copy(const Tensor& t) {
  NoGradGuard ng;
  return t.detach().clone();
}

}  // namespace

std::vector<ParamGroupSpec> decay_groups(const std::vector<std::pair<std::string, Tensor>>& named_params,
                                         double weight_decay, const NoDecayRule& no_decay) {
  ParamGroupSpec decay{{}, "decay", std::nullopt, weight_decay};
  ParamGroupSpec plain{{}, "no_decay", std::nullopt, 0.0};
  for (const auto& [name, p] : named_params) {
    if (!p.defined() || !p.requires_grad()) continue;
    bool skip_decay = no_decay ? no_decay(name, p) : p.dim() <= 1;
    (skip_decay ? plain : decay).params.push_back(p);
  }
  return {decay, plain};
}

std::vector<ParamGroupSpec> decay_groups(const nn::Module& module, double weight_decay, const NoDecayRule& no_decay) {
  return decay_groups(module.named_parameters(), weight_decay, no_decay);
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard ng;
  for (size_t g = 0; g < num_groups(); ++g) {
    for (const Tensor& p : group_params(g)) {
      if (set_to_none) {
        const_cast<Tensor&>(p).zero_grad();
      } else if (Tensor grad = p.grad(); grad.defined()) {
        grad.zero_();
      }
    }
  }
}

std::vector<double> Optimizer::lrs() const {
  std::vector<double> out;
  for (size_t g = 0; g < num_groups(); ++g) out.push_back(lr(g));
  return out;
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (size_t g = 0; g < num_groups(); ++g)
    for (const Tensor& p : group_params(g)) out.push_back(p);
  return out;
}

const ParamState& Optimizer::param_state(size_t index) const {
  TSR_CHECK(index < state_.size(), IndexError, type_, ": parameter index ", index, " out of range (", state_.size(),
            " parameters)");
  return state_[index];
}

size_t Optimizer::add_params(const std::vector<Tensor>& params, const std::string& group_name) {
  std::unordered_set<const TensorImpl*> seen;
  for (const Tensor& p : parameters()) seen.insert(p.unsafe_impl());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    TSR_CHECK(p.defined(), Error, type_, ": parameter ", i, " of group '", group_name, "' is undefined");
    TSR_CHECK(p.dtype() == DType::F32 || p.dtype() == DType::F64, DTypeError, type_, ": parameter ", i,
              " of group '", group_name, "' is ", dtype_name(p.dtype()), "; optimizers update float32 or float64");
    TSR_CHECK(p.is_leaf(), Error, type_, ": parameter ", i, " of group '", group_name,
              "' is not a leaf (produced by ", p.grad_fn()->name, "); optimize the leaf it came from");
    TSR_CHECK(seen.insert(p.unsafe_impl()).second, Error, type_, ": parameter ", i, " of group '", group_name,
              "' appears more than once across the parameter groups");
  }
  size_t first = state_.size();
  group_offsets_.push_back(first);
  state_.resize(first + params.size());
  return first;
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  out.type = type_;
  for (size_t g = 0; g < num_groups(); ++g) {
    OptimizerState::Group grp{group_name(g), {}, group_options(g)};
    for (size_t i = 0; i < group_params(g).size(); ++i) grp.params.push_back(static_cast<int64_t>(first_index(g) + i));
    out.groups.push_back(std::move(grp));
  }
  for (const ParamState& s : state_) {
    ParamState copy{s.step, {}};
    for (const auto& [name, t] : s.buffers) copy.buffers[name] = deep_copy(t);
    out.state.push_back(std::move(copy));
  }
  return out;
}

void Optimizer::load_state_dict(const OptimizerState& st) {
  TSR_CHECK(st.type == type_, Error, type_, ": cannot load the state of a ", st.type, " optimizer");
  TSR_CHECK(st.groups.size() == num_groups(), Error, type_, ": state has ", st.groups.size(),
            " parameter groups, this optimizer has ", num_groups());
  TSR_CHECK(st.state.size() == state_.size(), Error, type_, ": state covers ", st.state.size(),
            " parameters, this optimizer has ", state_.size());
  // Validate everything before changing anything, so a failed load leaves the optimizer as it was.
  for (size_t g = 0; g < num_groups(); ++g) {
    const auto& sg = st.groups[g];
    const auto& params = group_params(g);
    TSR_CHECK(sg.params.size() == params.size(), Error, type_, ": group ", g, " ('", group_name(g), "') has ",
              params.size(), " parameters, the state's has ", sg.params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const size_t idx = first_index(g) + i;
      TSR_CHECK(sg.params[i] == static_cast<int64_t>(idx), Error, type_, ": group ", g, " ('", group_name(g),
                "') lists parameter ", sg.params[i], " at position ", i, ", expected ", idx);
      for (const auto& [name, t] : st.state[idx].buffers) {
        TSR_CHECK(t.defined() && t.shape() == params[i].shape(), ShapeError, type_, ": state '", name,
                  "' of parameter ", idx, " (group '", group_name(g), "') has shape ",
                  t.defined() ? shape_str(t.shape()) : "undefined", ", the parameter has ",
                  shape_str(params[i].shape()));
        TSR_CHECK(t.dtype() == params[i].dtype(), DTypeError, type_, ": state '", name, "' of parameter ", idx,
                  " is ", dtype_name(t.dtype()), ", the parameter is ", dtype_name(params[i].dtype()));
      }
    }
  }
  std::vector<std::map<std::string, double>> old_options;
  for (size_t g = 0; g < num_groups(); ++g) old_options.push_back(group_options(g));
  try {
    for (size_t g = 0; g < num_groups(); ++g) set_group_options(g, st.groups[g].options);
  } catch (...) {
    for (size_t g = 0; g < num_groups(); ++g) set_group_options(g, old_options[g]);
    throw;
  }
  for (size_t idx = 0; idx < state_.size(); ++idx) {
    ParamState s{st.state[idx].step, {}};
    for (const auto& [name, t] : st.state[idx].buffers) s.buffers[name] = deep_copy(t);
    state_[idx] = std::move(s);
  }
}

void Optimizer::save(const std::string& path) const {
  using nlohmann::json;
  OptimizerState st = state_dict();
  json h;
  h["format"] = "tessera.optimizer";
  h["type"] = st.type;
  h["groups"] = json::array();
  for (const auto& g : st.groups) h["groups"].push_back({{"name", g.name}, {"params", g.params}, {"options", g.options}});
  std::vector<std::pair<const void*, size_t>> blobs;
  std::vector<Tensor> keep;  // contiguous copies stay alive until written
  uint64_t offset = 0;
  h["state"] = json::array();
  for (const ParamState& s : st.state) {
    json bufs = json::object();
    for (const auto& [name, t] : s.buffers) {
      Tensor c = t.contiguous();
      const size_t nbytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
      bufs[name] = {{"dtype", dtype_name(c.dtype())}, {"shape", c.shape()}, {"offset", offset}, {"nbytes", nbytes}};
      blobs.emplace_back(c.raw_data(), nbytes);
      keep.push_back(c);
      offset += nbytes;
    }
    h["state"].push_back({{"step", s.step}, {"buffers", bufs}});
  }
  detail::write_state_file(path, kMagic, kVersion, h.dump(), blobs, kWhat);
}

void Optimizer::load(const std::string& path) {
  using nlohmann::json;
  detail::StateFile f = detail::read_state_file(path, kMagic, kVersion, kWhat);
  detail::decode_and_apply<OptimizerState>(
      path, kWhat, f,
      [&](const json& h, OptimizerState& st) {
        st.type = h.at("type").get<std::string>();
        for (const auto& g : h.at("groups")) {
          st.groups.push_back({g.at("name").get<std::string>(), g.at("params").get<std::vector<int64_t>>(),
                               g.at("options").get<std::map<std::string, double>>()});
        }
        for (const auto& s : h.at("state")) {
          ParamState ps{s.at("step").get<int64_t>(), {}};
          for (const auto& [name, b] : s.at("buffers").items()) {
            const DType dt = dtype_from_name(b.at("dtype").get<std::string>());
            const Shape shape = b.at("shape").get<Shape>();
            const uint64_t off = b.at("offset").get<uint64_t>();
            const uint64_t nbytes = b.at("nbytes").get<uint64_t>();
            TSR_CHECK(nbytes == static_cast<uint64_t>(shape_numel(shape)) * dtype_size(dt), Error, kWhat,
                      " file '", path, "': buffer '", name, "' of ", shape_str(shape), " claims ", nbytes, " bytes");
            TSR_CHECK(off <= f.data.size() && nbytes <= f.data.size() - off, Error, kWhat, " file '", path,
                      "': truncated (buffer '", name, "' ends at byte ", off + nbytes, " of ", f.data.size(), ")");
            Tensor t = empty(shape, {.dtype = dt});
            if (nbytes) std::memcpy(t.raw_data(), f.data.data() + off, nbytes);
            ps.buffers[name] = t;
          }
          st.state.push_back(std::move(ps));
        }
      },
      [this](const OptimizerState& st) { load_state_dict(st); });
}

}  // namespace tessera::optim
