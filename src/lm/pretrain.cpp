// `tessera pretrain` (lm/pretrain.h): a recipe and token shards -> a language
// model objective (causal_objective.cpp, masked_objective.cpp), AdamW with
// nanoGPT's decay groups, warmup + decay, and the one training loop of
// train/loop.h (accumulation, clipping, periodic validation loss, atomic
// checkpoints, exact resume). Resume exactness rests on restoring everything
// that feeds the next update: weights, AdamW moments, schedule counters, the
// batch sampler's Philox state, the dropout stream and (MLM) the masking stream.
#include "tessera/lm/pretrain.h"

#include "lm/lm_objective.h"
#include "lm/pretrain_recipe.h"
#include "tessera/core/parallel.h"
#include "tessera/dist/data_parallel.h"
#include "tessera/text/shards.h"
#include "tessera/train/loop.h"
#include "train/optimizer_setup.h"

using nlohmann::json;

namespace tessera::lm {

PretrainResult pretrain(const std::string& recipe_json, const std::string& data_dir, const std::string& out_dir,
                        const PretrainOptions& opts) {
  const PretrainRecipe r = parse_pretrain_recipe(recipe_json);
  if (r.threads > 0) set_num_threads(r.threads);
  text::TokenData data = text::open_token_data(data_dir, std::nullopt, opts.tokenizer_fingerprint);
  json m = r.model;
  if (!m.contains("vocab_size")) m["vocab_size"] = data.vocab_size;
  TSR_CHECK(m["vocab_size"].is_number_integer() && m["vocab_size"].get<int64_t>() >= data.vocab_size, Error,
            "recipe: model.vocab_size is ", m["vocab_size"].dump(), " but the shards in ", data_dir,
            " use a vocabulary of ", data.vocab_size, " tokens (leave it out to use the shards')");
  const std::string tokenizer_file = opts.tokenizer_file.empty() ? data.tokenizer_file : opts.tokenizer_file;
  std::unique_ptr<LanguageModelObjective> obj =
      r.objective == "mlm" ? make_masked_objective(r, std::move(data), m, tokenizer_file)
                           : make_causal_objective(r, std::move(data), m);
  obj->prepare(tokenizer_file);

  // nanoGPT's split: decay on 2-D weights (embeddings too), none on biases and norm weights.
  train::OptimizerSpec o;
  o.type = "adamw", o.lr = r.lr, o.beta1 = r.beta1, o.beta2 = r.beta2, o.eps = r.eps, o.weight_decay = r.weight_decay;
  auto optimizer = train::make_optimizer(obj->module(), o);
  auto scheduler = train::make_scheduler(*optimizer, {r.schedule, r.warmup_steps, r.min_lr}, r.steps);

  train::LoopConfig c;
  c.out_dir = out_dir;
  c.total_steps = r.steps;
  c.grad_accum = r.grad_accum;
  c.precision = r.precision;
  c.clip_grad_norm = r.clip_grad_norm;
  c.log_every = r.log_every;
  c.log_first_step = true;  // the starting loss (about ln(vocab))
  c.eval_every = r.eval_every;
  c.checkpoint_every = r.checkpoint_every;
  c.keep_last = r.keep_last;
  c.keep_best_checkpoint = false;
  c.resume = opts.resume, c.quiet = opts.quiet, c.stop_after_steps = opts.stop_after_steps;
  auto data_parallel = dist::make_data_parallel(*optimizer, r.distributed, c);  // under mpirun
  train::TrainingLoop loop(*obj, *optimizer, *scheduler, c);
  if (data_parallel) loop.add_hook(*data_parallel);
  loop.add_hooks(opts.hooks);
  train::LoopResult lr = loop.run();

  PretrainResult res;
  res.steps = lr.steps;
  res.stop_reason = lr.stop_reason;
  res.train_loss = obj->train_loss();
  res.val_loss = obj->val_loss();
  res.summary_json = lr.summary_json;
  return res;
}

}  // namespace tessera::lm
