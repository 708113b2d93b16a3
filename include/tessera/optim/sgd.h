// SGD with momentum, dampening, Nesterov and L2 weight decay, following
// torch.optim.SGD's update (and its float32 operation order, so trajectories
// match torch's):
//   g = grad + weight_decay * p
//   buf = g (first step) | momentum * buf + (1 - dampening) * g
//   g = nesterov ? g + momentum * buf : buf          (when momentum != 0)
//   p -= lr * g
#pragma once
#include "tessera/optim/optimizer.h"

namespace tessera::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;

  void validate(const char* who) const;
  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("momentum", momentum);
    f("dampening", dampening);
    f("weight_decay", weight_decay);
    f("nesterov", nesterov);
  }
};

class SGD : public OptimizerWith<SGDOptions> {
 public:
  SGD(const std::vector<Tensor>& params, const SGDOptions& options = {});
  SGD(const std::vector<ParamGroupSpec>& groups, const SGDOptions& defaults = {});
  void step() override;
};

}  // namespace tessera::optim
