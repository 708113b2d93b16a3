// Recipe parsing with key checks, so typos in a config file are errors.
#include "train/recipe.h"

#include <set>

#include "tessera/core/error.h"
#include "train/recipe_json.h"

namespace tessera::train {

namespace {

using nlohmann::json;
const RecipeJson kJson{"config"};

}  // namespace

Recipe parse_recipe(const std::string& json_text) {
  Recipe r;
  try {
    r.raw = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(std::string("config is not valid JSON: ") + e.what());
  }
  TSR_CHECK(r.raw.is_object(), Error, "config: the top level must be a JSON object");
  kJson.check_keys(r.raw, "", {"task", "model", "data", "optimizer", "schedule", "train", "description"});
  kJson.read(r.raw, "", "task", r.task);
  TSR_CHECK(r.task == "classification" || r.task == "regression", Error,
            "config: 'task' must be \"classification\" or \"regression\", got \"", r.task, "\"");
  TSR_CHECK(r.raw.contains("model"), Error, "config: missing the \"model\" section");
  r.model = kJson.section(r.raw, "model");

  const json& o = kJson.section(r.raw, "optimizer");
  kJson.check_keys(o, "optimizer.", {"type", "lr", "weight_decay", "momentum", "nesterov", "betas", "eps"});
  kJson.read(o, "optimizer.", "type", r.optimizer);
  kJson.read(o, "optimizer.", "lr", r.lr);
  kJson.read(o, "optimizer.", "weight_decay", r.weight_decay);
  kJson.read(o, "optimizer.", "momentum", r.momentum);
  kJson.read(o, "optimizer.", "nesterov", r.nesterov);
  kJson.read(o, "optimizer.", "eps", r.eps);
  if (o.contains("betas")) {
    std::vector<double> b;
    kJson.read(o, "optimizer.", "betas", b);
    TSR_CHECK(b.size() == 2, Error, "config: 'optimizer.betas' must hold two numbers");
    r.beta1 = b[0], r.beta2 = b[1];
  }
  TSR_CHECK(r.optimizer == "sgd" || r.optimizer == "adam" || r.optimizer == "adamw", Error,
            "config: 'optimizer.type' must be sgd, adam or adamw, got \"", r.optimizer, "\"");
  TSR_CHECK(r.lr > 0, Error, "config: 'optimizer.lr' must be positive, got ", r.lr);

  const json& s = kJson.section(r.raw, "schedule");
  kJson.check_keys(s, "schedule.", {"type", "warmup_steps", "min_lr", "step_size", "gamma"});
  kJson.read(s, "schedule.", "type", r.schedule);
  kJson.read(s, "schedule.", "warmup_steps", r.warmup_steps);
  kJson.read(s, "schedule.", "min_lr", r.min_lr);
  kJson.read(s, "schedule.", "step_size", r.step_size);
  kJson.read(s, "schedule.", "gamma", r.gamma);
  TSR_CHECK(r.schedule == "constant" || r.schedule == "cosine" || r.schedule == "linear" || r.schedule == "step",
            Error, "config: 'schedule.type' must be constant, cosine, linear or step, got \"", r.schedule, "\"");

  const json& t = kJson.section(r.raw, "train");
  kJson.check_keys(t, "train.", {"epochs", "steps", "batch_size", "eval_batch_size", "grad_accum", "clip_grad_norm",
                           "eval_every", "log_every", "seed", "threads", "early_stopping", "checkpoint"});
  kJson.read(t, "train.", "epochs", r.epochs);
  kJson.read(t, "train.", "steps", r.steps);
  kJson.read(t, "train.", "batch_size", r.batch_size);
  kJson.read(t, "train.", "eval_batch_size", r.eval_batch_size);
  kJson.read(t, "train.", "grad_accum", r.grad_accum);
  kJson.read(t, "train.", "clip_grad_norm", r.clip_grad_norm);
  kJson.read(t, "train.", "eval_every", r.eval_every);
  kJson.read(t, "train.", "log_every", r.log_every);
  kJson.read(t, "train.", "seed", r.seed);
  kJson.read(t, "train.", "threads", r.threads);
  TSR_CHECK(r.epochs > 0 || r.steps > 0, Error, "config: 'train.epochs' or 'train.steps' must be positive");
  TSR_CHECK(r.batch_size > 0 && r.eval_batch_size > 0, Error, "config: batch sizes must be positive, got ",
            r.batch_size, " and ", r.eval_batch_size);
  TSR_CHECK(r.grad_accum > 0, Error, "config: 'train.grad_accum' must be positive, got ", r.grad_accum);
  TSR_CHECK(r.log_every > 0, Error, "config: 'train.log_every' must be positive, got ", r.log_every);
  TSR_CHECK(r.threads >= 0, Error, "config: 'train.threads' must be >= 0, got ", r.threads);
  if (t.contains("early_stopping")) {
    const json& e = kJson.section(t, "early_stopping");
    kJson.check_keys(e, "train.early_stopping.", {"metric", "mode", "patience"});
    kJson.read(e, "train.early_stopping.", "metric", r.early_metric);
    kJson.read(e, "train.early_stopping.", "mode", r.early_mode);
    kJson.read(e, "train.early_stopping.", "patience", r.patience);
    TSR_CHECK(r.early_mode.empty() || r.early_mode == "min" || r.early_mode == "max", Error,
              "config: 'train.early_stopping.mode' must be min or max, got \"", r.early_mode, "\"");
  }
  if (t.contains("checkpoint")) {
    const json& c = kJson.section(t, "checkpoint");
    kJson.check_keys(c, "train.checkpoint.", {"every", "keep_last"});
    kJson.read(c, "train.checkpoint.", "every", r.checkpoint_every);
    kJson.read(c, "train.checkpoint.", "keep_last", r.keep_last);
  }
  return r;
}

}  // namespace tessera::train
