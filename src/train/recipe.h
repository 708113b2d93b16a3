// The parsed training recipe (see train/trainer.h for the JSON layout).
// Private to the library: it uses nlohmann::json, which is not part of the
// public interface.
#pragma once
#include "tessera/dist/data_parallel.h"
#include <nlohmann/json.hpp>
#include <string>

#include "tessera/core/autocast.h"

namespace tessera::train {

struct Recipe {
  nlohmann::json raw;  // the whole recipe, as given (written into checkpoints and summary.json)
  std::string task = "classification";
  nlohmann::json model;
  // optimizer
  std::string optimizer = "adam";
  double lr = 1e-3, weight_decay = 0.0, momentum = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool nesterov = false;
  // schedule
  std::string schedule = "constant";
  int64_t warmup_steps = 0, step_size = 1000;
  double min_lr = 0.0, gamma = 0.1;
  // train
  int64_t epochs = 1, steps = 0, batch_size = 64, eval_batch_size = 512, grad_accum = 1;
  double clip_grad_norm = 0.0;
  int64_t eval_every = 0, log_every = 50;
  uint64_t seed = 0;
  int threads = 0;
  Precision precision = Precision::fp32;  // "train.precision": "fp32" | "bf16"
  dist::DataParallelOptions distributed;  // "distributed": under mpirun (dist/data_parallel.h)
  std::string early_metric;
  std::string early_mode;  // "min" / "max" ("" : from the metric's name)
  int64_t patience = 0;
  int64_t checkpoint_every = 0, keep_last = 2;
};

// Parses and validates; errors name the key ("train.batch_size must be positive, got 0").
Recipe parse_recipe(const std::string& json_text);

}  // namespace tessera::train
