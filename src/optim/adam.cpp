// Adam and AdamW: option checks and the step loop; the update itself is the
// fused kernel in src/backends/<device>/optim.cpp.
#include "tessera/optim/adam.h"

#include "kernels/optim.h"
#include "optim/step_util.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/profiler.h"

namespace tessera::optim {

namespace {

template <class Options>
void validate_adam(const Options& o, const char* who) {
  TSR_CHECK(o.lr >= 0.0, Error, who, ": invalid learning rate ", o.lr);
  TSR_CHECK(o.eps >= 0.0, Error, who, ": invalid epsilon ", o.eps);
  TSR_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, Error, who, ": invalid beta1 ", o.beta1, " (must be in [0, 1))");
  TSR_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, Error, who, ": invalid beta2 ", o.beta2, " (must be in [0, 1))");
  TSR_CHECK(o.weight_decay >= 0.0, Error, who, ": invalid weight_decay ", o.weight_decay);
}

}  // namespace

template <double kDefaultWeightDecay>
void AdamOptionsT<kDefaultWeightDecay>::validate(const char* who) const {
  validate_adam(*this, who);
}
template struct AdamOptionsT<0.0>;
template struct AdamOptionsT<1e-2>;

template <class Options>
void AdamBase<Options>::step() {
  profiler::Scope event(profiler::enabled() ? profiler::runtime_name(this->type_name() + ".step") : "",
                        profiler::Kind::Optimizer);
  NoGradGuard no_grad;
  for (size_t g = 0; g < this->groups_.size(); ++g) {
    const Options& o = this->groups_[g].options;
    const auto& params = this->groups_[g].params;
    std::vector<AdamTensors> batch;
    std::vector<std::pair<Tensor, Tensor>> write_back;  // (strided parameter, its contiguous copy)
    batch.reserve(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& p = params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      const size_t index = this->first_index(g) + i;
      grad = detail::checked_grad(this->type_name(), p, grad, index);
      ParamState& st = this->mutable_state(index);
      auto buffer = [&](const char* name) -> Tensor {
        auto it = st.buffers.find(name);
        if (it != st.buffers.end()) return it->second;
        // A group switched to amsgrad mid-run starts its max from zero, as torch's lazy state would.
        return st.buffers[name] = detail::state_buffer(p);
      };
      Tensor exp_avg = buffer("exp_avg");
      Tensor exp_avg_sq = buffer("exp_avg_sq");
      Tensor max_sq = o.amsgrad ? buffer("max_exp_avg_sq") : Tensor();
      ++st.step;
      Tensor target = p;
      if (!p.is_contiguous()) write_back.emplace_back(p, target = p.contiguous());
      batch.push_back({target, grad, exp_avg, exp_avg_sq, max_sq, st.step});
    }
    if (batch.empty()) continue;
    AdamStepArgs args{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, decoupled_};
    adam_step_stub[batch.front().param.device()](batch, args);
    for (auto& [p, c] : write_back) const_cast<Tensor&>(p).copy_(c);
    // Saved-for-backward checks see the in-place update.
    for (const Tensor& p : params)
      if (p.grad().defined()) p.bump_version();
  }
}

template class AdamBase<AdamOptions>;
template class AdamBase<AdamWOptions>;

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& options)
    : Adam(std::vector<ParamGroupSpec>{{params, "0", std::nullopt, std::nullopt}}, options) {}
Adam::Adam(const std::vector<ParamGroupSpec>& groups, const AdamOptions& defaults)
    : AdamBase<AdamOptions>("Adam", groups, defaults, false) {}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : AdamW(std::vector<ParamGroupSpec>{{params, "0", std::nullopt, std::nullopt}}, options) {}
AdamW::AdamW(const std::vector<ParamGroupSpec>& groups, const AdamWOptions& defaults)
    : AdamBase<AdamWOptions>("AdamW", groups, defaults, true) {}

}  // namespace tessera::optim
