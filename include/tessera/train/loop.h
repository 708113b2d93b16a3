// The one training loop behind `tessera train`, `tessera pretrain` and
// `tessera finetune`, driven by an Objective (train/objective.h).
//
// One optimizer step (TrainingLoop::run, step by step):
//   zero_grad
//   for each of grad_accum micro-batches:
//     loss = objective.next_loss()            forward (the objective draws the batch)
//     loss.item() finite?                     else stop before any update (NonFiniteLossError)
//     objective.backward(loss, 1/grad_accum)  backward, gradients accumulate
//   objective.clip_gradients(params, clip_grad_norm)
//   optimizer.step(); scheduler.step()
// then, between steps: progress, metrics lines, evaluation (every eval_every
// steps and after the last), best tracking and early stopping, checkpoints
// (every checkpoint_every steps, else at each evaluation, and after the last).
// StepHooks observe and change the step at fixed points (below).
//
// A checkpoint is a step folder (checkpoint/folders.h) holding the objective's
// files, optimizer.bin, scheduler.bin and trainer_state.json: "step",
// "wall_seconds", "samples_seen", "tokens_seen", "bad_evals", "best_step",
// "best_metric", "rng": {"default": [seed, offset], ...the objective's},
// "dropout_masks" (the run's dropout mask layout, tessera/ops/dropout_layout.h:
// new runs use the default, a checkpoint without the key resumes in the old
// one), plus the objective's entries. With resume the loop continues from the newest
// step folder; a resumed run ends with the same weights, bit for bit, as an
// uninterrupted one at the same thread count.
//
// The output folder also holds metrics.jsonl (lines logged after the resumed
// step are dropped so the file reads as one run) and summary.json.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/autocast.h"
#include "tessera/core/error.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/optimizer.h"
#include "tessera/train/objective.h"

namespace tessera::train {

// The loss became NaN or infinite: raised before the update, after writing an
// "error" line to metrics.jsonl and summary.json; the message names the step
// and the last good checkpoint.
class NonFiniteLossError : public Error {
  using Error::Error;
};

struct LoopConfig {
  std::string out_dir;
  int64_t total_steps = 0;
  int64_t grad_accum = 1;
  double clip_grad_norm = 0;       // 0: no clipping
  // Train lines every log_every steps and after the last (0: none); with
  // log_first_step also after step 1 (a language model's starting loss).
  int64_t log_every = 0;
  bool log_first_step = false;
  int64_t eval_every = 0;          // 0: evaluate only after the last step
  int64_t checkpoint_every = 0;    // 0: checkpoint at each evaluation
  int64_t keep_last = 2;           // step folders kept (see keep_best_checkpoint)
  // Best tracking: the evaluation scalar that ranks checkpoints ("" : none),
  // "min" / "max" ("" : min for loss, mse, rmse, mae; max otherwise), and the
  // evaluations without improvement that stop the run (0: never).
  std::string best_metric, best_mode;
  std::string best_metric_key = "best_metric";  // the recipe key that named it (messages)
  int64_t patience = 0;
  bool keep_best_checkpoint = true;  // pruning spares the best step folder
  bool resume = false;             // continue from <out_dir>/checkpoints' newest step
  bool quiet = false;              // no console output
  int64_t stop_after_steps = 0;    // > 0: checkpoint and return after this step (a simulated interruption)
  // bf16: forward, backward and evaluation run under AutocastGuard (GEMMs in
  // bf16, fp32 accumulation); weights, gradients and optimizer state stay fp32,
  // so checkpoints are the same either way and a run may resume in the other.
  Precision precision = Precision::fp32;
  // Data parallel (dist/data_parallel.h): every rank runs the loop; only the
  // writer (rank 0) prints, writes metrics.jsonl, summary.json and step
  // folders. With collective_steps a non-finite loss is judged on the step's
  // totals summed over ranks (StepHook::reduce_totals), so every rank stops
  // at the same step.
  bool writer = true;
  bool collective_steps = false;
};

// A step's sums over its micro-batches: loss x share, examples, tokens.
struct StepTotals {
  double loss = 0;
  int64_t examples = 0, tokens = 0;
};

// Where a step is seen from outside, for what plugs in next:
//   precision (bf16):   forward_begin/forward_end and backward_begin/backward_end
//                       bracket the autocast scope; scale_loss for loss scaling;
//                       optimizer_end copies fp32 master weights to the model's;
//   data parallel (MPI): gradients_ready (after the last micro-batch's backward,
//                       before clipping) all-reduces; backward_begin/end with
//                       StepContext's micro-batch index let it overlap later;
//   profiling:          every phase, step_begin to step_end.
// Hooks run in the order they were added; every method defaults to nothing.
struct StepContext {
  int64_t step = 0;         // the step being taken (1-based)
  int64_t micro_batch = -1; // 0..grad_accum-1 inside forward/backward; -1 outside
  int64_t grad_accum = 1;
  bool last_micro_batch() const { return micro_batch == grad_accum - 1; }
};

class StepHook {
 public:
  virtual ~StepHook() = default;
  virtual void step_begin(const StepContext&) {}
  virtual void forward_begin(const StepContext&) {}
  virtual void forward_end(const StepContext&) {}
  // The loss about to be backpropagated (after the finite check); return a
  // replacement to scale it. The logged loss is the unscaled one.
  virtual Tensor scale_loss(const StepContext&, const Tensor& loss) { return loss; }
  virtual void backward_begin(const StepContext&) {}
  virtual void backward_end(const StepContext&) {}
  virtual void gradients_ready(const StepContext&) {}
  virtual void optimizer_begin(const StepContext&) {}
  virtual void optimizer_end(const StepContext&) {}
  virtual void step_end(const StepContext&) {}
  // After gradients_ready: the step's totals, summed over ranks in place.
  virtual void reduce_totals(StepTotals&) {}
  // A checkpoint is being written (on every rank; `path` is where the writer
  // puts optimizer.bin, "" on other ranks). Return true when the hook wrote
  // the optimizer's state itself (a sharded optimizer gathers it).
  virtual bool save_optimizer(const std::string& /*path*/) { return false; }
  // After a checkpoint was loaded for resume (every rank).
  virtual void resumed() {}
  // summary.json fields, as a JSON object ("" : none); called on every rank
  // before the writer writes the summary (a hook may gather from the ranks).
  virtual std::string summary_json(const RunSummary&) { return ""; }
};

struct LoopResult {
  int64_t steps = 0;          // optimizer steps in total (resumes included)
  std::string stop_reason;    // "completed", "early_stopping", "interrupted"
  int64_t best_step = -1;     // with best_metric: the best evaluation's step
  double best_value = 0;
  std::string summary_json;   // summary.json's text ("" when interrupted)
};

class TrainingLoop {
 public:
  // The optimizer covers the objective's trainable parameters; the scheduler
  // drives it. All three must outlive the loop.
  TrainingLoop(Objective& objective, optim::Optimizer& optimizer, optim::LRScheduler& scheduler, LoopConfig config);
  ~TrainingLoop();
  TrainingLoop(const TrainingLoop&) = delete;
  TrainingLoop& operator=(const TrainingLoop&) = delete;

  // Not owned; must outlive run().
  void add_hook(StepHook& hook);
  void add_hooks(const std::vector<StepHook*>& hooks);

  LoopResult run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::train
