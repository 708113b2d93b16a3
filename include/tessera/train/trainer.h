// The training loop: forward, loss, backward, (accumulate), clip, step, log,
// evaluate, checkpoint, stop early; then a final test evaluation. A run is
// described by a JSON recipe (the file format of examples/*.json):
//
//   {"task": "classification" | "regression",
//    "model": {...models/factory.h...},
//    "data": {...train/data_source.h...},
//    "optimizer": {"type": "sgd" | "adam" | "adamw", "lr": 1e-3, "weight_decay": 0,
//                  "momentum": 0.9, "nesterov": false, "betas": [0.9, 0.999], "eps": 1e-8},
//    "schedule": {"type": "constant" | "cosine" | "linear" | "step", "warmup_steps": 0,
//                 "min_lr": 0, "step_size": 1000, "gamma": 0.1},
//    "train": {"epochs": 1, "steps": 0 (overrides epochs when > 0), "batch_size": 64,
//              "eval_batch_size": 512, "grad_accum": 1, "clip_grad_norm": 0 (off),
//              "eval_every": 0 (0: once per epoch), "log_every": 50, "seed": 0, "threads": 0,
//              "early_stopping": {"metric": "accuracy", "mode": "max", "patience": 0 (off)},
//              "checkpoint": {"every": 0 (0: at each evaluation), "keep_last": 2}}}
//
// The steps run in the one loop of train/loop.h; the objective is
// classification or regression over a data::Dataset
// (src/train/objectives/). Everything a run writes goes under the output
// folder: metrics.jsonl (one JSON object per log or eval line), summary.json,
// test_report.json and checkpoints/step-N/ (checkpoint/folders.h; their files: checkpoint/inspect.h). A
// resumed run (resume = true) continues from the newest checkpoint so that
// its final weights equal an uninterrupted run's bit for bit at the same
// thread count.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/data/dataset.h"
#include "tessera/nn/module.h"
#include "tessera/train/loop.h"
#include "tessera/train/objective.h"

namespace tessera::train {

// The datasets of a run; validation and test may be null.
struct TrainData {
  std::shared_ptr<const data::Dataset> train, validation, test;
  std::vector<std::string> class_names;  // optional, indexed by class id
  // Anything the data pipeline fitted (e.g. CSV normalization) that eval must
  // reuse: stored as JSON text in each checkpoint's config.json under "data_state".
  std::string data_state_json = "null";
};

struct TrainerOptions {
  bool resume = false;        // continue from <out>/checkpoints' newest step
  bool quiet = false;         // no progress output (tests)
  int64_t stop_after_steps = 0;  // > 0: checkpoint and return after this global step (simulates an interruption)
  std::vector<StepHook*> hooks = {};  // train/loop.h step hooks, in order (not owned)
};

struct TrainResult {
  int64_t steps = 0;         // optimizer steps taken in total (including before a resume)
  std::string stop_reason;   // "completed", "early_stopping", "interrupted"
  std::vector<std::pair<std::string, double>> final_metrics;  // test_* (or validation_* without a test set)
  std::string summary_json;  // the text of summary.json
};

class Trainer {
 public:
  // config_json: the whole recipe (flag overrides already applied).
  Trainer(std::string config_json, TrainData data, std::string out_dir, TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  TrainResult run();
  nn::Module& model();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Evaluates `model` on `dataset` in eval mode without gradients. Returns the
// report as a printable table, as JSON, and as named scalars (accuracy,
// macro_f1, loss, ... or mse, mae, r2, loss). (NonFiniteLossError, raised
// when the loss becomes NaN or infinite, is train/loop.h's.)
EvalResult evaluate(nn::Module& model, const data::Dataset& dataset, bool classification, int64_t batch_size = 512,
                    const std::vector<std::string>& class_names = {});

}  // namespace tessera::train
