// Pretraining recipe parsing: unknown keys and wrong types are errors that
// name the key (io/json_reader.h), so a typo in a recipe never silently
// trains something else.
#include "lm/pretrain_recipe.h"

#include "io/json_reader.h"
#include "tessera/core/error.h"
#include "train/recipe_sections.h"

namespace tessera::lm {

namespace {

// "objective", "task" and the "mlm" section, which must agree with each other.
void read_objective(const io::JsonReader& top, PretrainRecipe& r) {
  const nlohmann::json& raw = top.object();
  if (top.has("objective")) {
    const auto& o = raw["objective"];
    TSR_CHECK(o.is_string() && (o == "causal" || o == "mlm"), Error,
              "recipe: 'objective' must be \"causal\" or \"mlm\", got ", o.dump());
    r.objective = o.get<std::string>();
  }
  const bool mlm = r.objective == "mlm";
  if (top.has("task")) {
    if (mlm) {
      TSR_CHECK(raw["task"] == "masked_language_model", Error,
                "recipe: 'task' must be \"masked_language_model\" with \"objective\": \"mlm\", got ",
                raw["task"].dump());
    } else {
      TSR_CHECK(raw["task"] == "language_model", Error,
                "recipe: 'task' must be \"language_model\" for `tessera pretrain`, got ", raw["task"].dump());
    }
  }
  if (!top.has("mlm")) return;
  TSR_CHECK(mlm, Error, "recipe: the \"mlm\" section needs \"objective\": \"mlm\"");
  io::JsonReader m = top.section("mlm");
  m.known_keys({"mask_prob", "replace_mask", "replace_random"});
  m.read("mask_prob", r.mlm.mask_prob);
  m.read("replace_mask", r.mlm.replace_mask);
  m.read("replace_random", r.mlm.replace_random);
  TSR_CHECK(r.mlm.mask_prob > 0 && r.mlm.mask_prob <= 1, Error, "recipe: 'mlm.mask_prob' must lie in (0, 1], got ",
            r.mlm.mask_prob);
  TSR_CHECK(r.mlm.replace_mask >= 0 && r.mlm.replace_random >= 0 && r.mlm.replace_mask + r.mlm.replace_random <= 1,
            Error, "recipe: 'mlm.replace_mask' and 'mlm.replace_random' must be >= 0 and sum to at most 1");
}

}  // namespace

PretrainRecipe parse_pretrain_recipe(const std::string& json_text) {
  PretrainRecipe r;
  r.raw = io::parse_json(json_text, "recipe is not valid JSON: ");
  io::JsonReader top(r.raw, "recipe");
  top.known_keys({"task", "description", "objective", "data", "model", "mlm", "optimizer", "schedule", "train",
                  "distributed"});
  train::read_distributed_section(top, r.distributed);
  read_objective(top, r);
  TSR_CHECK(top.has("model"), Error, "recipe: missing the \"model\" section (a ",
            r.objective == "mlm" ? "BertConfig" : "GPT config", ")");
  r.model = top.section("model").object();

  io::JsonReader o = top.section("optimizer");
  o.known_keys({"type", "lr", "weight_decay", "betas", "eps"});
  std::string type = "adamw";
  o.read("type", type);
  TSR_CHECK(type == "adamw", Error, "recipe: 'optimizer.type' must be \"adamw\" for pretraining, got \"", type, "\"");
  o.read("lr", r.lr);
  o.read("weight_decay", r.weight_decay);
  o.read("eps", r.eps);
  train::read_betas(o, r.beta1, r.beta2);
  TSR_CHECK(r.lr > 0, Error, "recipe: 'optimizer.lr' must be positive, got ", r.lr);

  io::JsonReader s = top.section("schedule");
  s.known_keys({"type", "warmup_steps", "min_lr"});
  train::read_schedule_fields(s, r);
  TSR_CHECK(r.schedule == "constant" || r.schedule == "cosine" || r.schedule == "linear", Error,
            "recipe: 'schedule.type' must be cosine, linear or constant, got \"", r.schedule, "\"");
  TSR_CHECK(r.warmup_steps >= 0 && r.min_lr >= 0, Error, "recipe: schedule.warmup_steps and min_lr must be >= 0");

  io::JsonReader t = top.section("train");
  t.known_keys({"steps", "batch_size", "seq_len", "grad_accum", "clip_grad_norm", "eval_every", "eval_batches",
                "log_every", "seed", "threads", "precision", "peak_flops", "checkpoint"});
  train::read_loop_fields(t, r);
  t.read("seq_len", r.seq_len);
  t.read("eval_batches", r.eval_batches);
  t.read("peak_flops", r.peak_flops);
  TSR_CHECK(r.steps > 0, Error, "recipe: 'train.steps' must be positive, got ", r.steps);
  TSR_CHECK(r.batch_size > 0, Error, "recipe: 'train.batch_size' must be positive, got ", r.batch_size);
  TSR_CHECK(r.seq_len >= 0, Error, "recipe: 'train.seq_len' must be >= 0, got ", r.seq_len);
  TSR_CHECK(r.clip_grad_norm >= 0, Error, "recipe: 'train.clip_grad_norm' must be >= 0, got ", r.clip_grad_norm);
  TSR_CHECK(r.eval_every >= 0 && r.eval_batches > 0, Error,
            "recipe: 'train.eval_every' must be >= 0 and 'train.eval_batches' positive");
  train::check_loop_fields(t, r);
  TSR_CHECK(r.peak_flops >= 0, Error, "recipe: 'train.peak_flops' must be >= 0, got ", r.peak_flops);
  if (train::read_checkpoint_section(t, r)) {
    TSR_CHECK(r.checkpoint_every >= 0 && r.keep_last >= 1, Error,
              "recipe: 'train.checkpoint.every' must be >= 0 and 'keep_last' >= 1");
  }
  return r;
}

}  // namespace tessera::lm
