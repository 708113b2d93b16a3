// make_optimizer / make_scheduler (train/optimizer_setup.h).
#include "train/optimizer_setup.h"

#include <algorithm>

#include "tessera/optim/adam.h"
#include "tessera/optim/sgd.h"

namespace tessera::train {

std::unique_ptr<optim::Optimizer> make_optimizer(nn::Module& model, const OptimizerSpec& spec) {
  if (spec.type == "sgd") {
    optim::SGDOptions o;
    o.lr = spec.lr, o.momentum = spec.momentum, o.weight_decay = spec.weight_decay, o.nesterov = spec.nesterov;
    return std::make_unique<optim::SGD>(model.parameters(), o);
  }
  if (spec.type == "adam") {
    optim::AdamOptions o;
    o.lr = spec.lr, o.beta1 = spec.beta1, o.beta2 = spec.beta2, o.eps = spec.eps, o.weight_decay = spec.weight_decay;
    return std::make_unique<optim::Adam>(model.parameters(), o);
  }
  TSR_CHECK(spec.type == "adamw", Error, "optimizer type must be sgd, adam or adamw, got \"", spec.type, "\"");
  optim::AdamWOptions o;
  o.lr = spec.lr, o.beta1 = spec.beta1, o.beta2 = spec.beta2, o.eps = spec.eps, o.weight_decay = spec.weight_decay;
  return std::make_unique<optim::AdamW>(optim::decay_groups(model, spec.weight_decay), o);
}

std::unique_ptr<optim::LRScheduler> make_scheduler(optim::Optimizer& optimizer, const ScheduleSpec& spec,
                                                   int64_t total_steps) {
  const int64_t w = std::min(spec.warmup_steps, total_steps);
  if (spec.type == "cosine") return std::make_unique<optim::WarmupCosineLR>(optimizer, w, total_steps, spec.min_lr);
  if (spec.type == "linear") return std::make_unique<optim::WarmupLinearLR>(optimizer, w, total_steps, spec.min_lr);
  if (spec.type == "step") return std::make_unique<optim::StepLR>(optimizer, spec.step_size, spec.gamma);
  TSR_CHECK(spec.type == "constant", Error, "schedule type must be constant, cosine, linear or step, got \"",
            spec.type, "\"");
  return std::make_unique<optim::LambdaLR>(optimizer, [w](int64_t s) {
    return w > 0 && s < w ? static_cast<double>(s) / static_cast<double>(w) : 1.0;
  });
}

}  // namespace tessera::train
