// The training loop of train/loop.h: the step (micro-batches, accumulation,
// the non-finite guard, clipping, optimizer and schedule, with the hooks at
// their points) and the cadence around it (progress, metrics lines,
// evaluation, best tracking, early stopping, checkpoints, interruption).
// Checkpoints, resume and the summary are in loop_state.cpp.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/checkpoint/folders.h"
#include "tessera/core/parallel.h"
#include "tessera/dist/world.h"
#include "tessera/ops/dropout_layout.h"
#include "train/loop_impl.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace {

bool lower_is_better(const std::string& metric) {
  return metric == "loss" || metric == "mse" || metric == "rmse" || metric == "mae";
}

std::vector<Tensor> trainable(nn::Module& m) {
  std::vector<Tensor> out;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

// Data parallel: every rank resumes from its own reading of the output
// folder, so all must see the same newest step folder (one filesystem).
void check_same_checkpoint_everywhere(const std::optional<int64_t>& newest) {
  const std::vector<double> all = dist::allgather(newest ? static_cast<double>(*newest) : -1.0);
  auto name = [](double s) { return s < 0 ? std::string("no checkpoint") : "step " + std::to_string(static_cast<int64_t>(s)); };
  for (size_t r = 1; r < all.size(); ++r)
    TSR_CHECK(all[r] == all[0], Error, "resume: rank ", r, " finds ", name(all[r]), " but rank 0 finds ", name(all[0]),
              ": the output folder must be on a filesystem every rank shares");
}

}  // namespace

TrainingLoop::Impl::Impl(Objective& o, optim::Optimizer& opt, optim::LRScheduler& s, LoopConfig c)
    : obj(o),
      optimizer(opt),
      scheduler(s),
      cfg(std::move(c)),
      params(trainable(o.module())),
      progress(cfg.quiet, cfg.total_steps, o.progress_style()),
      log(progress) {
  TSR_CHECK(cfg.total_steps > 0, Error, "training loop: total_steps must be positive, got ", cfg.total_steps);
  TSR_CHECK(cfg.grad_accum > 0, Error, "training loop: grad_accum must be positive, got ", cfg.grad_accum);
  TSR_CHECK(!cfg.out_dir.empty(), Error, "training loop: no output folder");
}

double TrainingLoop::Impl::take_step(int64_t& examples, int64_t& tokens) {
  AutocastGuard autocast(cfg.precision);  // only GEMMs look at it: the optimizer step stays fp32
  StepContext ctx{step + 1, -1, cfg.grad_accum};
  for (StepHook* h : hooks) h->step_begin(ctx);
  optimizer.zero_grad();
  const double scale = 1.0 / static_cast<double>(cfg.grad_accum);
  StepTotals totals;
  for (int64_t a = 0; a < cfg.grad_accum; ++a) {
    ctx.micro_batch = a;
    for (StepHook* h : hooks) h->forward_begin(ctx);
    MicroBatchLoss mb = obj.next_loss();
    for (StepHook* h : hooks) h->forward_end(ctx);
    const bool empty = mb.share <= 0;  // an empty shard of a data-parallel micro-batch
    const double v = empty ? 0.0 : mb.loss.item();  // the step's one host sync per micro-batch
    if (!std::isfinite(v) && !cfg.collective_steps) return v;  // the caller stops before any update
    Tensor loss = std::move(mb.loss);
    if (!empty)
      for (StepHook* h : hooks) loss = h->scale_loss(ctx, loss);
    for (StepHook* h : hooks) h->backward_begin(ctx);
    if (!empty) obj.backward(loss, scale * mb.share);
    for (StepHook* h : hooks) h->backward_end(ctx);
    totals.loss += empty ? 0.0 : v * mb.share;
    totals.examples += mb.examples;
    totals.tokens += mb.tokens;
  }
  ctx.micro_batch = -1;
  for (StepHook* h : hooks) h->gradients_ready(ctx);
  for (StepHook* h : hooks) h->reduce_totals(totals);
  const double mean = totals.loss / static_cast<double>(cfg.grad_accum);
  if (!std::isfinite(mean)) return mean;
  examples += totals.examples;
  tokens += totals.tokens;
  obj.clip_gradients(params, cfg.clip_grad_norm);
  for (StepHook* h : hooks) h->optimizer_begin(ctx);
  optimizer.step();
  scheduler.step();
  for (StepHook* h : hooks) h->optimizer_end(ctx);
  for (StepHook* h : hooks) h->step_end(ctx);
  return mean;
}

StepStats TrainingLoop::Impl::stats_after_step(double loss, double lr) const {
  StepStats s;
  s.step = step;
  s.total_steps = cfg.total_steps;
  s.epoch = obj.epoch();
  s.loss = loss;
  s.window_loss = window_steps > 0 ? window_sum / static_cast<double>(window_steps) : loss;
  s.lr = lr;
  s.lr_after = optimizer.lr(0);
  s.examples_seen = examples_seen;
  s.tokens_seen = tokens_seen;
  if (train_seconds > 0) {
    s.examples_per_second = static_cast<double>(session_examples) / train_seconds;
    s.tokens_per_second = static_cast<double>(session_tokens) / train_seconds;
  }
  s.elapsed_seconds = elapsed();
  return s;
}

bool TrainingLoop::Impl::update_best(const EvalResult& eval) {
  const double* value = eval.find(cfg.best_metric);
  if (!value) {
    std::string known;
    for (const auto& [k, v] : eval.scalars) known += (known.empty() ? "" : ", ") + k;
    throw Error("'" + cfg.best_metric_key + "' is '" + cfg.best_metric +
                "', which is not an evaluation metric (available: " + known + ")");
  }
  const bool minimize = cfg.best_mode.empty() ? lower_is_better(cfg.best_metric) : cfg.best_mode == "min";
  const bool better = best_step < 0 || (minimize ? *value < best_value : *value > best_value);
  if (better) {
    best_value = *value;
    best_step = step;
    bad_evals = 0;
    if (cfg.writer) obj.on_new_best(step, eval);  // it may write files (finetune's model/)
  } else {
    ++bad_evals;
  }
  return cfg.patience > 0 && bad_evals >= cfg.patience;
}

RunSummary TrainingLoop::Impl::run_summary(const std::string& stop_reason) const {
  RunSummary r;
  r.stop_reason = stop_reason;
  r.last = last_stats;  // loss, lr, epoch of the last step; the counters as they are now
  r.last.step = step;
  r.last.total_steps = cfg.total_steps;
  r.last.examples_seen = examples_seen;
  r.last.tokens_seen = tokens_seen;
  r.last.examples_per_second = train_seconds > 0 ? static_cast<double>(session_examples) / train_seconds : 0.0;
  r.last.tokens_per_second = train_seconds > 0 ? static_cast<double>(session_tokens) / train_seconds : 0.0;
  r.last.elapsed_seconds = elapsed();
  r.train_seconds = train_seconds;
  r.best_step = best_step;
  r.best_value = best_value;
  return r;
}

void TrainingLoop::Impl::fail_nonfinite(double loss) {
  const std::string where = last_checkpoint
                                ? "the last good checkpoint is " + checkpoint::step_dir(cfg.out_dir, *last_checkpoint)
                                : std::string("no checkpoint was written yet");
  const int64_t epoch = obj.epoch();
  std::string msg = "step " + std::to_string(step + 1) + ": loss is " + (std::isnan(loss) ? "NaN" : "infinite") +
                    (epoch >= 0 ? " (epoch " + std::to_string(epoch + 1) + ")" : std::string()) +
                    "; stopped before the update; " + where;
  log.line(json({{"type", "error"}, {"step", step + 1}, {"message", msg}}).dump());
  progress.finish();
  write_summary(run_summary("nonfinite_loss"));
  throw NonFiniteLossError(msg);
}

LoopResult TrainingLoop::Impl::run() {
  // New runs mask with the default layout; load_checkpoint sets the resumed run's.
  DropoutMaskLayoutScope mask_layout(DropoutMaskLayout::kFourWordsPerCounter);
  std::error_code ec;
  fs::create_directories(cfg.out_dir, ec);
  TSR_CHECK(!ec, Error, "training loop: cannot create the output folder ", cfg.out_dir, ": ", ec.message());
  bool resumed = false;
  if (cfg.resume) {
    std::optional<int64_t> newest = checkpoint::latest_step(cfg.out_dir);
    if (cfg.collective_steps) check_same_checkpoint_everywhere(newest);
    if (auto s = newest) {
      load_checkpoint(*s);
      for (StepHook* h : hooks) h->resumed();
      resumed = true;
      progress.message("resuming from " + checkpoint::step_dir(cfg.out_dir, *s));
    } else {
      progress.message("no checkpoint in " + checkpoint::root(cfg.out_dir) + "; starting from scratch");
    }
  }
  if (cfg.writer) log.open((fs::path(cfg.out_dir) / "metrics.jsonl").string(), resumed, step);
  obj.announce(log);
  if (cfg.precision == Precision::bf16)
    log.message(std::string("precision bf16: ") + bf16_backend_description() +
                "; weights, gradients, optimizer, norms, softmax and loss in fp32");
  session.restart();
  std::string stop_reason = "completed";
  while (step < cfg.total_steps) {
    const double lr = optimizer.lr(0);  // the lr this step uses
    int64_t examples = 0, tokens = 0;
    Stopwatch step_time;
    const double loss = take_step(examples, tokens);
    train_seconds += step_time.seconds();
    if (!std::isfinite(loss)) fail_nonfinite(loss);
    ++step;
    examples_seen += examples, tokens_seen += tokens;
    session_examples += examples, session_tokens += tokens;
    window_sum += loss, ++window_steps;
    last_stats = stats_after_step(loss, lr);

    const bool last = step == cfg.total_steps;
    const bool train_line = cfg.log_every > 0 &&
                            (step % cfg.log_every == 0 || last || (cfg.log_first_step && step == 1));
    const bool eval_now = obj.can_evaluate() && ((cfg.eval_every > 0 && step % cfg.eval_every == 0) || last);
    progress.update(last_stats, train_line);
    std::optional<EvalResult> eval;
    if (eval_now) {
      AutocastGuard autocast(cfg.precision);  // evaluation under the training precision
      eval = obj.evaluate();
    }
    if (obj.report_step(last_stats, train_line, eval ? &*eval : nullptr, log)) window_sum = 0, window_steps = 0;
    const bool stop_early = eval && !cfg.best_metric.empty() && update_best(*eval);

    const bool checkpoint_now = (cfg.checkpoint_every > 0 ? step % cfg.checkpoint_every == 0 : eval_now) || last ||
                                step == cfg.stop_after_steps || stop_early;
    if (checkpoint_now) save_checkpoint();
    if (stop_early) {
      stop_reason = "early_stopping";
      progress.message("early stopping: '" + cfg.best_metric + "' has not improved for " + std::to_string(bad_evals) +
                       " evaluations (best at step " + std::to_string(best_step) + ")");
      break;
    }
    if (cfg.stop_after_steps > 0 && step == cfg.stop_after_steps && !last) {
      progress.finish();
      return {step, "interrupted", best_step, best_value, ""};
    }
  }
  progress.finish();
  RunSummary summary = run_summary(stop_reason);
  if (cfg.writer) obj.finish(summary, log);  // final evaluations and files: the writer's
  return {step, stop_reason, best_step, best_value, write_summary(summary)};
}

TrainingLoop::TrainingLoop(Objective& objective, optim::Optimizer& optimizer, optim::LRScheduler& scheduler,
                           LoopConfig config)
    : impl_(std::make_unique<Impl>(objective, optimizer, scheduler, std::move(config))) {}

TrainingLoop::~TrainingLoop() = default;

void TrainingLoop::add_hook(StepHook& hook) { impl_->hooks.push_back(&hook); }

void TrainingLoop::add_hooks(const std::vector<StepHook*>& hooks) {
  for (StepHook* h : hooks)
    if (h) impl_->hooks.push_back(h);
}

LoopResult TrainingLoop::run() { return impl_->run(); }

}  // namespace tessera::train
