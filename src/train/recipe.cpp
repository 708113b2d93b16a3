// Recipe parsing with key checks, so typos in a config file are errors.
#include "train/recipe.h"

#include <set>

#include "tessera/core/error.h"

namespace tessera::train {

namespace {

using nlohmann::json;

const json& section(const json& root, const char* name) {
  static const json empty = json::object();
  if (!root.contains(name)) return empty;
  TSR_CHECK(root[name].is_object(), Error, "config: \"", name, "\" must be an object, got ", root[name].dump());
  return root[name];
}

void check_keys(const json& j, const std::string& where, const std::set<std::string>& allowed) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (allowed.count(it.key())) continue;
    std::string list;
    for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
    throw Error("config: unknown key '" + where + it.key() + "' (known in this section: " + list + ")");
  }
}

template <class T>
void read(const json& j, const std::string& where, const char* key, T& dst) {
  if (!j.contains(key)) return;
  try {
    dst = j.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error("config: '" + where + key + "' has the wrong type (" + j.at(key).dump() + ")");
  }
}

}  // namespace

Recipe parse_recipe(const std::string& json_text) {
  Recipe r;
  try {
    r.raw = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(std::string("config is not valid JSON: ") + e.what());
  }
  TSR_CHECK(r.raw.is_object(), Error, "config: the top level must be a JSON object");
  check_keys(r.raw, "", {"task", "model", "data", "optimizer", "schedule", "train", "description"});
  read(r.raw, "", "task", r.task);
  TSR_CHECK(r.task == "classification" || r.task == "regression", Error,
            "config: 'task' must be \"classification\" or \"regression\", got \"", r.task, "\"");
  TSR_CHECK(r.raw.contains("model"), Error, "config: missing the \"model\" section");
  r.model = section(r.raw, "model");

  const json& o = section(r.raw, "optimizer");
  check_keys(o, "optimizer.", {"type", "lr", "weight_decay", "momentum", "nesterov", "betas", "eps"});
  read(o, "optimizer.", "type", r.optimizer);
  read(o, "optimizer.", "lr", r.lr);
  read(o, "optimizer.", "weight_decay", r.weight_decay);
  read(o, "optimizer.", "momentum", r.momentum);
  read(o, "optimizer.", "nesterov", r.nesterov);
  read(o, "optimizer.", "eps", r.eps);
  if (o.contains("betas")) {
    std::vector<double> b;
    read(o, "optimizer.", "betas", b);
    TSR_CHECK(b.size() == 2, Error, "config: 'optimizer.betas' must hold two numbers");
    r.beta1 = b[0], r.beta2 = b[1];
  }
  TSR_CHECK(r.optimizer == "sgd" || r.optimizer == "adam" || r.optimizer == "adamw", Error,
            "config: 'optimizer.type' must be sgd, adam or adamw, got \"", r.optimizer, "\"");
  TSR_CHECK(r.lr > 0, Error, "config: 'optimizer.lr' must be positive, got ", r.lr);

  const json& s = section(r.raw, "schedule");
  check_keys(s, "schedule.", {"type", "warmup_steps", "min_lr", "step_size", "gamma"});
  read(s, "schedule.", "type", r.schedule);
  read(s, "schedule.", "warmup_steps", r.warmup_steps);
  read(s, "schedule.", "min_lr", r.min_lr);
  read(s, "schedule.", "step_size", r.step_size);
  read(s, "schedule.", "gamma", r.gamma);
  TSR_CHECK(r.schedule == "constant" || r.schedule == "cosine" || r.schedule == "linear" || r.schedule == "step",
            Error, "config: 'schedule.type' must be constant, cosine, linear or step, got \"", r.schedule, "\"");

  const json& t = section(r.raw, "train");
  check_keys(t, "train.", {"epochs", "steps", "batch_size", "eval_batch_size", "grad_accum", "clip_grad_norm",
                           "eval_every", "log_every", "seed", "threads", "early_stopping", "checkpoint"});
  read(t, "train.", "epochs", r.epochs);
  read(t, "train.", "steps", r.steps);
  read(t, "train.", "batch_size", r.batch_size);
  read(t, "train.", "eval_batch_size", r.eval_batch_size);
  read(t, "train.", "grad_accum", r.grad_accum);
  read(t, "train.", "clip_grad_norm", r.clip_grad_norm);
  read(t, "train.", "eval_every", r.eval_every);
  read(t, "train.", "log_every", r.log_every);
  read(t, "train.", "seed", r.seed);
  read(t, "train.", "threads", r.threads);
  TSR_CHECK(r.epochs > 0 || r.steps > 0, Error, "config: 'train.epochs' or 'train.steps' must be positive");
  TSR_CHECK(r.batch_size > 0 && r.eval_batch_size > 0, Error, "config: batch sizes must be positive, got ",
            r.batch_size, " and ", r.eval_batch_size);
  TSR_CHECK(r.grad_accum > 0, Error, "config: 'train.grad_accum' must be positive, got ", r.grad_accum);
  TSR_CHECK(r.log_every > 0, Error, "config: 'train.log_every' must be positive, got ", r.log_every);
  TSR_CHECK(r.threads >= 0, Error, "config: 'train.threads' must be >= 0, got ", r.threads);
  if (t.contains("early_stopping")) {
    const json& e = section(t, "early_stopping");
    check_keys(e, "train.early_stopping.", {"metric", "mode", "patience"});
    read(e, "train.early_stopping.", "metric", r.early_metric);
    read(e, "train.early_stopping.", "mode", r.early_mode);
    read(e, "train.early_stopping.", "patience", r.patience);
    TSR_CHECK(r.early_mode.empty() || r.early_mode == "min" || r.early_mode == "max", Error,
              "config: 'train.early_stopping.mode' must be min or max, got \"", r.early_mode, "\"");
  }
  if (t.contains("checkpoint")) {
    const json& c = section(t, "checkpoint");
    check_keys(c, "train.checkpoint.", {"every", "keep_last"});
    read(c, "train.checkpoint.", "every", r.checkpoint_every);
    read(c, "train.checkpoint.", "keep_last", r.keep_last);
  }
  return r;
}

}  // namespace tessera::train
