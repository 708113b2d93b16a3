// The Trainer (train/trainer.h): a `tessera train` recipe -> the dataset
// objective, optimizer, schedule and loop configuration; the steps, logs,
// checkpoints and resume are train/loop.h's. Resume exactness rests on
// restoring every piece of state that influences the next update: weights,
// optimizer moments, schedule counters, every RNG stream (default generator,
// each Dropout's and attention's) and the loader's (epoch, batch) position.
#include "tessera/train/trainer.h"

#include <algorithm>

#include "tessera/core/parallel.h"
#include "train/objectives/dataset_objective.h"
#include "train/optimizer_setup.h"
#include "train/recipe.h"

namespace tessera::train {

struct Trainer::Impl {
  std::unique_ptr<DatasetObjective> objective;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  LoopConfig loop;
  std::vector<StepHook*> hooks;
  dist::DataParallelOptions distributed;
};

Trainer::Trainer(std::string config_json, TrainData data, std::string out_dir, TrainerOptions options)
    : impl_(std::make_unique<Impl>()) {
  const Recipe r = parse_recipe(config_json);
  if (r.threads > 0) set_num_threads(r.threads);
  auto& obj = impl_->objective;
  obj = r.task == "classification" ? make_classification_objective(r, std::move(data), out_dir)
                                   : make_regression_objective(r, std::move(data), out_dir);
  OptimizerSpec o;
  o.type = r.optimizer, o.lr = r.lr, o.weight_decay = r.weight_decay, o.momentum = r.momentum;
  o.nesterov = r.nesterov, o.beta1 = r.beta1, o.beta2 = r.beta2, o.eps = r.eps;
  impl_->optimizer = make_optimizer(obj->module(), o);

  const int64_t steps_per_epoch = std::max<int64_t>(obj->batches_per_epoch() / r.grad_accum, 1);
  LoopConfig& c = impl_->loop;
  c.out_dir = std::move(out_dir);
  c.total_steps = r.steps > 0 ? r.steps : r.epochs * steps_per_epoch;
  c.grad_accum = r.grad_accum;
  c.precision = r.precision;
  c.clip_grad_norm = r.clip_grad_norm;
  c.log_every = r.log_every;
  c.eval_every = r.eval_every > 0 ? r.eval_every : steps_per_epoch;
  c.checkpoint_every = r.checkpoint_every;
  c.keep_last = r.keep_last;
  c.best_metric = r.early_metric, c.best_mode = r.early_mode, c.patience = r.patience;
  c.best_metric_key = "train.early_stopping.metric";
  c.resume = options.resume, c.quiet = options.quiet, c.stop_after_steps = options.stop_after_steps;
  impl_->hooks = options.hooks;
  impl_->distributed = r.distributed;
  impl_->scheduler = make_scheduler(
      *impl_->optimizer, {r.schedule, r.warmup_steps, r.min_lr, r.step_size, r.gamma}, c.total_steps);
}

Trainer::~Trainer() = default;

TrainResult Trainer::run() {
  auto data_parallel = dist::make_data_parallel(*impl_->optimizer, impl_->distributed, impl_->loop);  // under mpirun
  TrainingLoop loop(*impl_->objective, *impl_->optimizer, *impl_->scheduler, impl_->loop);
  if (data_parallel) loop.add_hook(*data_parallel);
  loop.add_hooks(impl_->hooks);
  LoopResult r = loop.run();
  TrainResult res;
  res.steps = r.steps;
  res.stop_reason = r.stop_reason;
  if (r.stop_reason != "interrupted") res.final_metrics = impl_->objective->final_metrics();
  res.summary_json = r.summary_json;
  return res;
}

nn::Module& Trainer::model() { return impl_->objective->module(); }

}  // namespace tessera::train
