// Learning-rate schedules. Each sets the lr of every parameter group of an
// optimizer, with torch.optim.lr_scheduler's conventions: constructing a
// scheduler applies the lr of step 0; call step() once after each
// optimizer.step(); group i's base lr is its lr when the scheduler was built.
// Where torch computes a schedule by chaining (StepLR, ExponentialLR: lr *=
// gamma), so do we, so the doubles agree with torch's to the last bit.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tessera/optim/optimizer.h"

namespace tessera::optim {

// A scheduler's resumable state: its counters, base lrs and configuration as
// named lists of numbers (flags as 0/1).
struct SchedulerState {
  std::string type;
  std::map<std::string, std::vector<double>> values;
};

// Save / load shared by every scheduler: a versioned file (magic "TSRSCHED"),
// written atomically like optimizer state.
class StatefulScheduler {
 public:
  virtual ~StatefulScheduler() = default;
  const std::string& type_name() const { return type_; }
  virtual SchedulerState state_dict() const = 0;
  // Checks the type and that every expected value is present.
  virtual void load_state_dict(const SchedulerState& state) = 0;
  void save(const std::string& path) const;
  void load(const std::string& path);

 protected:
  explicit StatefulScheduler(std::string type) : type_(std::move(type)) {}
  // Reads values[key] and checks it has `n` entries (n < 0: any length).
  const std::vector<double>& value(const SchedulerState& s, const std::string& key, int64_t n = 1) const;
  void check_type(const SchedulerState& s) const;

 private:
  std::string type_;
};

// Epoch-indexed schedules (everything but ReduceLROnPlateau).
class LRScheduler : public StatefulScheduler {
 public:
  // Advances to the next step and sets every group's lr.
  void step();
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& last_lr() const { return last_lr_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return optimizer_; }

  SchedulerState state_dict() const override;
  void load_state_dict(const SchedulerState& state) override;

 protected:
  LRScheduler(std::string type, Optimizer& optimizer);
  // Derived constructors end with this: step 0's lrs, as torch's constructor does.
  void initial_step();
  // The lrs for last_epoch(); chainable schedules read optimizer().lr(g).
  virtual std::vector<double> compute_lrs() = 0;
  // Configuration beyond the counters, for state files.
  virtual void save_config(SchedulerState&) const {}
  virtual void load_config(const SchedulerState&) {}

 private:
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = -1;
};

// lr = base * factor for the first total_iters steps, then base (torch's
// ConstantLR). The defaults give a plain constant schedule.
class ConstantLR : public LRScheduler {
 public:
  ConstantLR(Optimizer& optimizer, double factor = 1.0, int64_t total_iters = 0);

 protected:
  std::vector<double> compute_lrs() override;
  void save_config(SchedulerState& s) const override;
  void load_config(const SchedulerState& s) override;

 private:
  double factor_;
  int64_t total_iters_;
};

// lr *= gamma every step_size steps.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> compute_lrs() override;
  void save_config(SchedulerState& s) const override;
  void load_config(const SchedulerState& s) override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr *= gamma every step.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> compute_lrs() override;
  void save_config(SchedulerState& s) const override;
  void load_config(const SchedulerState& s) override;

 private:
  double gamma_;
};

// lr = base * fn(step) (torch's LambdaLR). The function is not saved: rebuild
// the scheduler with the same function, then load its state.
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(int64_t step)> fn);

 protected:
  std::vector<double> compute_lrs() override;

 private:
  std::function<double(int64_t)> fn_;
};

// Linear warmup from 0 to the base lr over warmup_steps (lr = base * s / W,
// the Hugging Face convention), then a decay from base to min_lr at
// total_steps, and min_lr after:
//   p = min(1, (s - W) / max(1, T - W)),  lr = min_lr + (base - min_lr) * decay_factor(p)
// The subclasses below choose decay_factor; they share warmup, state and checks.
class WarmupDecayLR : public LRScheduler {
 public:
  WarmupDecayLR(const char* name, Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr);

 protected:
  virtual double decay_factor(double p) const = 0;  // 1 at p = 0, 0 at p = 1
  std::vector<double> compute_lrs() override;
  void save_config(SchedulerState& s) const override;
  void load_config(const SchedulerState& s) override;

 private:
  int64_t warmup_, total_;
  double min_lr_;
};

// Cosine decay: decay_factor(p) = (1 + cos(pi p)) / 2.
class WarmupCosineLR : public WarmupDecayLR {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);

 protected:
  double decay_factor(double p) const override;
};

// Linear decay: decay_factor(p) = 1 - p.
class WarmupLinearLR : public WarmupDecayLR {
 public:
  WarmupLinearLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0);

 protected:
  double decay_factor(double p) const override;
};

// "Attention Is All You Need" (eq. 3) as a multiplier of the base lr, with the
// paper's 1-based step_num = s + 1:
//   lr = base * d_model^-0.5 * min(step_num^-0.5, step_num * warmup^-1.5)
// (base 1.0 gives the paper's schedule).
class InverseSqrtLR : public LRScheduler {
 public:
  InverseSqrtLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps);

 protected:
  std::vector<double> compute_lrs() override;
  void save_config(SchedulerState& s) const override;
  void load_config(const SchedulerState& s) override;

 private:
  int64_t d_model_, warmup_;
};

struct ReduceLROnPlateauOptions {
  enum class Mode { Min, Max };
  enum class Threshold { Rel, Abs };
  Mode mode = Mode::Min;
  double factor = 0.1;  // new lr = lr * factor, must be < 1
  int64_t patience = 10;  // bad steps tolerated before reducing
  double threshold = 1e-4;
  Threshold threshold_mode = Threshold::Rel;
  int64_t cooldown = 0;  // steps after a reduction during which bad steps are ignored
  double min_lr = 0.0;
  std::vector<double> min_lrs = {};  // per group; overrides min_lr when set
  double eps = 1e-8;  // reductions smaller than this are skipped
};

// Reduces every group's lr by `factor` when the metric has not improved for
// more than `patience` steps (torch's ReduceLROnPlateau, same rules).
class ReduceLROnPlateau : public StatefulScheduler {
 public:
  using Options = ReduceLROnPlateauOptions;
  ReduceLROnPlateau(Optimizer& optimizer, const Options& options = {});
  void step(double metric);
  int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::vector<double> last_lr() const { return optimizer_.lrs(); }

  SchedulerState state_dict() const override;
  void load_state_dict(const SchedulerState& state) override;

 private:
  bool is_better(double a, double best) const;
  Optimizer& optimizer_;
  Options options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
};

}  // namespace tessera::optim
