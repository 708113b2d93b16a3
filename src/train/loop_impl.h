// TrainingLoop's state, shared by loop.cpp (the steps and their cadence) and
// loop_state.cpp (checkpoints, resume, metrics.jsonl, summary.json).
#pragma once
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/stopwatch.h"
#include "tessera/train/loop.h"
#include "train/progress.h"

namespace tessera::train {

// metrics.jsonl plus the console (the progress bar's message line).
class MetricsLog : public RunLog {
 public:
  explicit MetricsLog(Progress& progress) : progress_(progress) {}
  // Truncates the file, or, resuming at `step`, keeps only the lines of steps
  // up to it (later ones describe steps that will run again).
  void open(const std::string& path, bool resumed, int64_t step);
  void line(const std::string& json_object) override;  // nothing until open() (a data-parallel rank > 0)
  void message(const std::string& text) override { progress_.message(text); }

 private:
  Progress& progress_;
  std::ofstream file_;
};

struct TrainingLoop::Impl {
  Impl(Objective& o, optim::Optimizer& opt, optim::LRScheduler& s, LoopConfig c);

  Objective& obj;
  optim::Optimizer& optimizer;
  optim::LRScheduler& scheduler;
  LoopConfig cfg;
  std::vector<StepHook*> hooks;
  std::vector<Tensor> params;  // the trainable parameters (clipping), fixed at construction
  Progress progress;
  MetricsLog log;

  // Counters a checkpoint stores.
  int64_t step = 0, examples_seen = 0, tokens_seen = 0, bad_evals = 0, best_step = -1;
  double best_value = 0, wall_before = 0;
  std::optional<int64_t> last_checkpoint;

  // This session.
  Stopwatch session;
  double train_seconds = 0, window_sum = 0;
  int64_t window_steps = 0, session_examples = 0, session_tokens = 0;
  StepStats last_stats;

  // loop.cpp
  LoopResult run();
  // One optimizer step; returns the mean loss, or the first non-finite
  // micro-batch loss (then nothing was updated).
  double take_step(int64_t& examples, int64_t& tokens);
  StepStats stats_after_step(double loss, double lr) const;
  // Records an evaluation for best tracking; returns whether to stop early.
  bool update_best(const EvalResult& eval);
  [[noreturn]] void fail_nonfinite(double loss);
  RunSummary run_summary(const std::string& stop_reason) const;
  double elapsed() const { return wall_before + session.seconds(); }

  // loop_state.cpp
  void save_checkpoint();
  void load_checkpoint(int64_t step);
  std::string write_summary(const RunSummary& run);
};

}  // namespace tessera::train
