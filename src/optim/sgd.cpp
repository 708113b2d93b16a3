// SGD: option checks and the step loop; the update itself is the fused
// kernel in src/backends/<device>/optim.cpp.
#include "tessera/optim/sgd.h"

#include "kernels/optim.h"
#include "optim/step_util.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/profiler.h"

namespace tessera::optim {

void SGDOptions::validate(const char* who) const {
  TSR_CHECK(lr >= 0.0, Error, who, ": invalid learning rate ", lr);
  TSR_CHECK(momentum >= 0.0, Error, who, ": invalid momentum ", momentum);
  TSR_CHECK(weight_decay >= 0.0, Error, who, ": invalid weight_decay ", weight_decay);
  TSR_CHECK(!nesterov || (momentum > 0.0 && dampening == 0.0), Error, who,
            ": nesterov momentum requires a momentum > 0 and zero dampening (got momentum ", momentum,
            ", dampening ", dampening, ")");
}

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& options)
    : SGD(std::vector<ParamGroupSpec>{{params, "0", std::nullopt, std::nullopt}}, options) {}

SGD::SGD(const std::vector<ParamGroupSpec>& groups, const SGDOptions& defaults)
    : OptimizerWith<SGDOptions>("SGD", groups, defaults) {}

void SGD::step() {
  profiler::Scope event("SGD.step", profiler::Kind::Optimizer);
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const SGDOptions& o = groups_[g].options;
    const auto& params = groups_[g].params;
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& p = params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      const size_t index = first_index(g) + i;
      grad = detail::checked_grad(type_name(), p, grad, index);
      ParamState& st = mutable_state(index);
      SGDStepArgs args{o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, false};
      Tensor buf;
      if (o.momentum != 0.0) {
        auto it = st.buffers.find("momentum_buffer");
        if (it == st.buffers.end()) {
          buf = detail::state_buffer(p);
          st.buffers["momentum_buffer"] = buf;
          args.init_buffer = true;
        } else {
          buf = it->second;
        }
      }
      ++st.step;
      detail::update_in_place(p, [&](const Tensor& pc) { sgd_step_stub[p.device()](pc, grad, buf, args); });
    }
  }
}

}  // namespace tessera::optim
