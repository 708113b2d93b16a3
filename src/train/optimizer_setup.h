// Optimizers and learning-rate schedules by name, as the recipes of `tessera
// train`, `tessera pretrain` and `tessera finetune` describe them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tessera/nn/module.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/optimizer.h"

namespace tessera::train {

struct OptimizerSpec {
  std::string type = "adamw";  // "sgd" | "adam" | "adamw"
  double lr = 1e-3, weight_decay = 0.0;
  double momentum = 0.0;       // sgd
  bool nesterov = false;       // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
};

// sgd and adam optimize every parameter of `model` in one group; adamw uses
// optim::decay_groups (no decay on biases and norm weights; frozen
// parameters left out).
std::unique_ptr<optim::Optimizer> make_optimizer(nn::Module& model, const OptimizerSpec& spec);

struct ScheduleSpec {
  std::string type = "constant";  // "constant" | "cosine" | "linear" | "step"
  int64_t warmup_steps = 0;       // capped at the run's steps (a short --steps run keeps working)
  double min_lr = 0.0;            // cosine, linear
  int64_t step_size = 1000;       // step
  double gamma = 0.1;             // step
};

// cosine / linear: linear warmup, then decay to min_lr at total_steps;
// step: lr *= gamma every step_size steps; constant: linear warmup, then flat.
std::unique_ptr<optim::LRScheduler> make_scheduler(optim::Optimizer& optimizer, const ScheduleSpec& spec,
                                                   int64_t total_steps);

}  // namespace tessera::train
