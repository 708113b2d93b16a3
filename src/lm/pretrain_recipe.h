// The parsed pretraining recipe (layout in lm/pretrain.h): the one place that
// knows its keys, the objective's ("objective", "mlm") included. Private to
// the library: it holds nlohmann::json, which is not part of the public API.
#pragma once
#include "tessera/dist/data_parallel.h"
#include <nlohmann/json.hpp>
#include <string>

#include "tessera/core/autocast.h"
#include "tessera/lm/mlm.h"

namespace tessera::lm {

struct PretrainRecipe {
  nlohmann::json raw;    // as given (flag overrides applied); stored in checkpoints and summary.json
  nlohmann::json model;  // the GPTConfig (causal) or BertConfig (mlm) section
  std::string objective = "causal";  // "causal" | "mlm"
  MlmOptions mlm;                    // mask_prob / replace_* from the "mlm" section (mlm only)
  // optimizer (AdamW only: the usual GPT setup)
  double lr = 6e-4, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  // schedule
  std::string schedule = "cosine";
  int64_t warmup_steps = 0;
  double min_lr = 0.0;
  // train
  int64_t steps = 1000, batch_size = 12, seq_len = 0, grad_accum = 1;
  double clip_grad_norm = 1.0;
  int64_t eval_every = 0, eval_batches = 20, log_every = 10;
  uint64_t seed = 1337;
  int threads = 0;
  Precision precision = Precision::fp32;  // "train.precision": "fp32" | "bf16"
  dist::DataParallelOptions distributed;  // "distributed": under mpirun (dist/data_parallel.h)
  double peak_flops = 0;
  int64_t checkpoint_every = 0, keep_last = 2;
};

// Validates every key and value; errors name the key ("train.batch_size must be positive, got 0").
PretrainRecipe parse_pretrain_recipe(const std::string& json_text);

}  // namespace tessera::lm
