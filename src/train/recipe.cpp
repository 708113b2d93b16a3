// Recipe parsing with key checks (io/json_reader.h), so typos in a config
// file are errors.
#include "train/recipe.h"
#include "train/recipe_sections.h"

#include "io/json_reader.h"
#include "tessera/core/error.h"

namespace tessera::train {

Recipe parse_recipe(const std::string& json_text) {
  Recipe r;
  r.raw = io::parse_json(json_text, "config is not valid JSON: ");
  io::JsonReader top(r.raw, "config");
  top.known_keys({"task", "model", "data", "optimizer", "schedule", "train", "description", "distributed"});
  read_distributed_section(top, r.distributed);
  top.read("task", r.task);
  TSR_CHECK(r.task == "classification" || r.task == "regression", Error,
            "config: 'task' must be \"classification\" or \"regression\", got \"", r.task, "\"");
  TSR_CHECK(top.has("model"), Error, "config: missing the \"model\" section");
  r.model = top.section("model").object();

  io::JsonReader o = top.section("optimizer");
  o.known_keys({"type", "lr", "weight_decay", "momentum", "nesterov", "betas", "eps"});
  o.read("type", r.optimizer);
  o.read("lr", r.lr);
  o.read("weight_decay", r.weight_decay);
  o.read("momentum", r.momentum);
  o.read("nesterov", r.nesterov);
  o.read("eps", r.eps);
  read_betas(o, r.beta1, r.beta2);
  TSR_CHECK(r.optimizer == "sgd" || r.optimizer == "adam" || r.optimizer == "adamw", Error,
            "config: 'optimizer.type' must be sgd, adam or adamw, got \"", r.optimizer, "\"");
  TSR_CHECK(r.lr > 0, Error, "config: 'optimizer.lr' must be positive, got ", r.lr);

  io::JsonReader s = top.section("schedule");
  s.known_keys({"type", "warmup_steps", "min_lr", "step_size", "gamma"});
  read_schedule_fields(s, r);
  s.read("step_size", r.step_size);
  s.read("gamma", r.gamma);
  TSR_CHECK(r.schedule == "constant" || r.schedule == "cosine" || r.schedule == "linear" || r.schedule == "step",
            Error, "config: 'schedule.type' must be constant, cosine, linear or step, got \"", r.schedule, "\"");

  io::JsonReader t = top.section("train");
  t.known_keys({"epochs", "steps", "batch_size", "eval_batch_size", "grad_accum", "clip_grad_norm", "eval_every",
                "log_every", "seed", "threads", "precision", "early_stopping", "checkpoint"});
  read_loop_fields(t, r);
  t.read("epochs", r.epochs);
  t.read("eval_batch_size", r.eval_batch_size);
  TSR_CHECK(r.epochs > 0 || r.steps > 0, Error, "config: 'train.epochs' or 'train.steps' must be positive");
  TSR_CHECK(r.batch_size > 0 && r.eval_batch_size > 0, Error, "config: batch sizes must be positive, got ",
            r.batch_size, " and ", r.eval_batch_size);
  check_loop_fields(t, r);
  if (t.has("early_stopping")) {
    io::JsonReader e = t.section("early_stopping");
    e.known_keys({"metric", "mode", "patience"});
    e.read("metric", r.early_metric);
    e.read("mode", r.early_mode);
    e.read("patience", r.patience);
    TSR_CHECK(r.early_mode.empty() || r.early_mode == "min" || r.early_mode == "max", Error,
              "config: 'train.early_stopping.mode' must be min or max, got \"", r.early_mode, "\"");
  }
  read_checkpoint_section(t, r);
  return r;
}

}  // namespace tessera::train
