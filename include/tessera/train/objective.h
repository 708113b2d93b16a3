// What a training run optimizes, as the one loop of train/loop.h sees it.
// The loop owns the step (micro-batches, gradient accumulation, the
// non-finite-loss guard, clipping, optimizer and schedule), the cadence of
// logs, evaluations and checkpoints, best-checkpoint tracking, early stopping,
// metrics.jsonl, summary.json and resume. An Objective owns everything that
// differs between tasks: the model, the batching and its position, the loss,
// evaluation (scalars + report), the metrics lines it writes, its summary
// fields and its own checkpoint files and state (RNG streams, data position).
//
// Objectives of this repository: classification and regression over a
// data::Dataset (src/train/objectives/), causal and masked language modeling
// over token shards (src/lm/*_objective.*), sequence classification on a GPT
// or BERT backbone (src/train/sequence_classification_objective.*).
//
// JSON travels as text in this interface (state, summary fields, log lines),
// so the public headers need no JSON library.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"
#include "tessera/nn/module.h"

namespace tessera::train {

// The report of one evaluation: named scalars (accuracy, macro_f1, loss, ...;
// mse, mae, r2, loss; or a language model's loss), the full report as JSON
// text and as a printable table.
struct EvalResult {
  std::string table;
  std::string json;
  std::vector<std::pair<std::string, double>> scalars;
  // The scalar `name`, or nullptr.
  const double* find(const std::string& name) const {
    for (const auto& [k, v] : scalars)
      if (k == name) return &v;
    return nullptr;
  }
};

// One micro-batch: its mean loss (graph attached) and how much data it held.
// In a data-parallel run (dist/data_parallel.h) every rank draws the same
// global micro-batch and keeps its shard of the rows (dist::shard); `loss` is
// the mean over this rank's shard, `share` the fraction of the global
// micro-batch's loss terms (examples, or tokens counted by the loss) that
// shard holds, and examples/tokens count the shard. The loop backpropagates
// loss x share and the ranks' gradients are summed, which is the gradient of
// the global mean whatever the split. share 0: an empty shard (no loss).
struct MicroBatchLoss {
  Tensor loss;
  int64_t examples = 0;
  int64_t tokens = 0;
  double share = 1.0;
};

// The loop's view after an optimizer step (log lines, the progress bar).
struct StepStats {
  int64_t step = 0, total_steps = 0;
  int64_t epoch = -1;              // Objective::epoch() after the step; -1 without epochs
  double loss = 0;                 // mean over this step's micro-batches
  double window_loss = 0;          // mean over the steps since the last train line
  double lr = 0;                   // group 0's lr during this step
  double lr_after = 0;             // group 0's lr after the schedule advanced
  int64_t examples_seen = 0, tokens_seen = 0;              // the whole run, resumes included
  double examples_per_second = 0, tokens_per_second = 0;  // this session's time inside steps
  double elapsed_seconds = 0;      // the run's wall time so far, resumes included
};

// How a run ended, for the summary and the objective's last words.
struct RunSummary {
  std::string stop_reason;   // "completed", "early_stopping", "nonfinite_loss"
  StepStats last;            // stats of the last step taken
  double train_seconds = 0;  // this session's time inside steps
  int64_t best_step = -1;    // the best evaluation's step (LoopConfig::best_metric), -1: none
  double best_value = 0;
};

// Where an objective reports: metrics.jsonl and the console.
class RunLog {
 public:
  virtual ~RunLog() = default;
  virtual void line(const std::string& json_object) = 0;  // one metrics.jsonl line (flushed)
  virtual void message(const std::string& text) = 0;      // a console line (nothing when quiet)
};

// What the progress bar shows besides step, loss and lr.
struct ProgressStyle {
  bool tokens = false;            // tokens/s and MFU (language models) instead of epoch and samples/s
  double flops_per_token = 0;     // for MFU
  double peak_flops = 0;          // MFU's denominator: the peak of `precision` (core/machine_peak.h)
  std::string precision;          // "fp32" | "bf16", shown beside the MFU
};

class Objective {
 public:
  virtual ~Objective() = default;

  // ---- the model ----
  virtual nn::Module& module() = 0;

  // ---- batching and loss ----
  // Draws the next training micro-batch (the objective owns the order and
  // the position in it) and returns its mean loss, graph attached.
  virtual MicroBatchLoss next_loss() = 0;
  // The epoch of the data position (0-based), or -1 when there are no epochs.
  virtual int64_t epoch() const { return -1; }
  virtual ProgressStyle progress_style() const { return {}; }

  // ---- gradients ----
  // Backpropagates loss * scale (scale = 1 / grad_accum) into the parameters'
  // gradients, and clips them after the step's last micro-batch (max_norm 0:
  // no clipping). DP-SGD replaces both: per-example gradients, each clipped,
  // summed, then noised.
  virtual void backward(const Tensor& loss, double scale);
  virtual void clip_gradients(const std::vector<Tensor>& params, double max_norm);

  // ---- evaluation ----
  virtual bool can_evaluate() const { return false; }
  virtual EvalResult evaluate() { return {}; }
  // Names the evaluated split in summary.json ("best_<split>_<metric>").
  virtual std::string eval_split() const { return "validation"; }

  // ---- reporting ----
  // After every step: writes this step's metrics lines and messages.
  // train_line_due: the log cadence asks for a train line; eval: this step's
  // evaluation, or null. Returns whether it wrote a train line (the loop then
  // restarts StepStats::window_loss).
  virtual bool report_step(const StepStats& stats, bool train_line_due, const EvalResult* eval, RunLog& log) = 0;
  // Once, after the log is open and before the first step (a resumed run
  // included): what is about to be trained.
  virtual void announce(RunLog& log) {}
  // The evaluation at `step` is the best so far (LoopConfig::best_metric).
  virtual void on_new_best(int64_t step, const EvalResult& eval) {}
  // After the last step of a run that was not interrupted (and before the
  // summary): final evaluations, final files.
  virtual void finish(const RunSummary& run, RunLog& log) {}
  // This objective's summary.json fields, as a JSON object; merged over the
  // loop's (stop_reason, steps, wall_seconds, train_seconds, threads,
  // last_checkpoint, best_step, best_<split>_<metric>).
  virtual std::string summary_json(const RunSummary& run) const = 0;

  // ---- checkpoints ----
  // Writes its files (weights, a config.json with "format_version", ...) into
  // the step folder being assembled; the loop adds optimizer.bin,
  // scheduler.bin and trainer_state.json.
  virtual void save_files(const std::string& dir, int64_t step) = 0;
  // Its trainer_state.json entries as a JSON object (data position, counters,
  // RNG streams under "rng"); merged with the loop's.
  virtual std::string state_json() = 0;
  // Restores from a step folder: config_json is its config.json (format
  // version already checked), state_json the whole trainer_state.json.
  virtual void load(const std::string& dir, const std::string& config_json, const std::string& state_json) = 0;
};

}  // namespace tessera::train
