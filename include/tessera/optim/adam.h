// Adam (Kingma & Ba, with torch's epsilon placement and optional AMSGrad) and
// AdamW (decoupled weight decay, Loshchilov & Hutter). The update is torch's
// single-tensor implementation, in its float operation order:
//   p *= 1 - lr * weight_decay                        (AdamW only)
//   g = grad + weight_decay * p                       (Adam only, L2)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   vmax = max(vmax, v)                                (amsgrad)
//   denom = sqrt(v or vmax) / sqrt(1 - beta2^t) + eps
//   p += -(lr / (1 - beta1^t)) * m / denom
#pragma once
#include "tessera/optim/optimizer.h"

namespace tessera::optim {

// Adam's and AdamW's options share every field; only the weight-decay default
// (0 for Adam, torch's 1e-2 for AdamW) and its meaning differ: Adam adds it
// to the gradient (L2), AdamW decays the parameter (p *= 1 - lr * weight_decay).
template <double kDefaultWeightDecay>
struct AdamOptionsT {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = kDefaultWeightDecay;
  bool amsgrad = false;

  void validate(const char* who) const;
  template <class F>
  void visit(F&& f) {
    f("lr", lr);
    f("beta1", beta1);
    f("beta2", beta2);
    f("eps", eps);
    f("weight_decay", weight_decay);
    f("amsgrad", amsgrad);
  }
};
using AdamOptions = AdamOptionsT<0.0>;
using AdamWOptions = AdamOptionsT<1e-2>;

// The shared update; Adam and AdamW differ only in how weight decay applies.
template <class Options>
class AdamBase : public OptimizerWith<Options> {
 public:
  void step() override;

 protected:
  AdamBase(std::string type, const std::vector<ParamGroupSpec>& groups, const Options& defaults, bool decoupled)
      : OptimizerWith<Options>(std::move(type), groups, defaults), decoupled_(decoupled) {}

 private:
  bool decoupled_;
};
extern template class AdamBase<AdamOptions>;
extern template class AdamBase<AdamWOptions>;

class Adam : public AdamBase<AdamOptions> {
 public:
  Adam(const std::vector<Tensor>& params, const AdamOptions& options = {});
  Adam(const std::vector<ParamGroupSpec>& groups, const AdamOptions& defaults = {});
};

class AdamW : public AdamBase<AdamWOptions> {
 public:
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& options = {});
  AdamW(const std::vector<ParamGroupSpec>& groups, const AdamWOptions& defaults = {});
};

}  // namespace tessera::optim
