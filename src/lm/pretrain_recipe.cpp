// Pretraining recipe parsing: unknown keys and wrong types are errors that
// name the key, so a typo in a recipe never silently trains something else.
#include "lm/pretrain_recipe.h"

#include <set>

#include "tessera/core/error.h"
#include "train/recipe_json.h"

namespace tessera::lm {

namespace {

using nlohmann::json;
const train::RecipeJson kJson{"recipe"};

}  // namespace

PretrainRecipe parse_pretrain_recipe(const std::string& json_text) {
  PretrainRecipe r;
  try {
    r.raw = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(std::string("recipe is not valid JSON: ") + e.what());
  }
  TSR_CHECK(r.raw.is_object(), Error, "recipe: the top level must be a JSON object");
  kJson.check_keys(r.raw, "", {"task", "description", "data", "model", "optimizer", "schedule", "train"});
  if (r.raw.contains("task")) {
    TSR_CHECK(r.raw["task"] == "language_model", Error,
              "recipe: 'task' must be \"language_model\" for `tessera pretrain`, got ", r.raw["task"].dump());
  }
  TSR_CHECK(r.raw.contains("model"), Error, "recipe: missing the \"model\" section (a GPT config)");
  r.model = kJson.section(r.raw, "model");

  const json& o = kJson.section(r.raw, "optimizer");
  kJson.check_keys(o, "optimizer.", {"type", "lr", "weight_decay", "betas", "eps"});
  std::string type = "adamw";
  kJson.read(o, "optimizer.", "type", type);
  TSR_CHECK(type == "adamw", Error, "recipe: 'optimizer.type' must be \"adamw\" for pretraining, got \"", type, "\"");
  kJson.read(o, "optimizer.", "lr", r.lr);
  kJson.read(o, "optimizer.", "weight_decay", r.weight_decay);
  kJson.read(o, "optimizer.", "eps", r.eps);
  if (o.contains("betas")) {
    std::vector<double> b;
    kJson.read(o, "optimizer.", "betas", b);
    TSR_CHECK(b.size() == 2, Error, "recipe: 'optimizer.betas' must hold two numbers");
    r.beta1 = b[0], r.beta2 = b[1];
  }
  TSR_CHECK(r.lr > 0, Error, "recipe: 'optimizer.lr' must be positive, got ", r.lr);

  const json& s = kJson.section(r.raw, "schedule");
  kJson.check_keys(s, "schedule.", {"type", "warmup_steps", "min_lr"});
  kJson.read(s, "schedule.", "type", r.schedule);
  kJson.read(s, "schedule.", "warmup_steps", r.warmup_steps);
  kJson.read(s, "schedule.", "min_lr", r.min_lr);
  TSR_CHECK(r.schedule == "constant" || r.schedule == "cosine" || r.schedule == "linear", Error,
            "recipe: 'schedule.type' must be cosine, linear or constant, got \"", r.schedule, "\"");
  TSR_CHECK(r.warmup_steps >= 0 && r.min_lr >= 0, Error, "recipe: schedule.warmup_steps and min_lr must be >= 0");

  const json& t = kJson.section(r.raw, "train");
  kJson.check_keys(t, "train.", {"steps", "batch_size", "seq_len", "grad_accum", "clip_grad_norm", "eval_every",
                           "eval_batches", "log_every", "seed", "threads", "peak_flops", "checkpoint"});
  kJson.read(t, "train.", "steps", r.steps);
  kJson.read(t, "train.", "batch_size", r.batch_size);
  kJson.read(t, "train.", "seq_len", r.seq_len);
  kJson.read(t, "train.", "grad_accum", r.grad_accum);
  kJson.read(t, "train.", "clip_grad_norm", r.clip_grad_norm);
  kJson.read(t, "train.", "eval_every", r.eval_every);
  kJson.read(t, "train.", "eval_batches", r.eval_batches);
  kJson.read(t, "train.", "log_every", r.log_every);
  kJson.read(t, "train.", "seed", r.seed);
  kJson.read(t, "train.", "threads", r.threads);
  kJson.read(t, "train.", "peak_flops", r.peak_flops);
  TSR_CHECK(r.steps > 0, Error, "recipe: 'train.steps' must be positive, got ", r.steps);
  TSR_CHECK(r.batch_size > 0, Error, "recipe: 'train.batch_size' must be positive, got ", r.batch_size);
  TSR_CHECK(r.seq_len >= 0, Error, "recipe: 'train.seq_len' must be >= 0, got ", r.seq_len);
  TSR_CHECK(r.grad_accum > 0, Error, "recipe: 'train.grad_accum' must be positive, got ", r.grad_accum);
  TSR_CHECK(r.clip_grad_norm >= 0, Error, "recipe: 'train.clip_grad_norm' must be >= 0, got ", r.clip_grad_norm);
  TSR_CHECK(r.eval_every >= 0 && r.eval_batches > 0, Error,
            "recipe: 'train.eval_every' must be >= 0 and 'train.eval_batches' positive");
  TSR_CHECK(r.log_every > 0, Error, "recipe: 'train.log_every' must be positive, got ", r.log_every);
  TSR_CHECK(r.threads >= 0, Error, "recipe: 'train.threads' must be >= 0, got ", r.threads);
  TSR_CHECK(r.peak_flops >= 0, Error, "recipe: 'train.peak_flops' must be >= 0, got ", r.peak_flops);
  if (t.contains("checkpoint")) {
    const json& c = kJson.section(t, "checkpoint");
    kJson.check_keys(c, "train.checkpoint.", {"every", "keep_last"});
    kJson.read(c, "train.checkpoint.", "every", r.checkpoint_every);
    kJson.read(c, "train.checkpoint.", "keep_last", r.keep_last);
    TSR_CHECK(r.checkpoint_every >= 0 && r.keep_last >= 1, Error,
              "recipe: 'train.checkpoint.every' must be >= 0 and 'keep_last' >= 1");
  }
  return r;
}

}  // namespace tessera::lm
