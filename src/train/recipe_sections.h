// The recipe sections that `tessera train` (train/recipe.cpp) and
// `tessera pretrain` (lm/pretrain_recipe.cpp) share: the AdamW betas, the
// common schedule and train fields, and "train.checkpoint". Each recipe keeps
// its own struct, defaults and extra keys; these read the fields both have,
// so a key's type rule and message are written once. Messages start with the
// reader's `who` ("config" or "recipe"). Private to the library.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/json_reader.h"
#include "tessera/core/autocast.h"
#include "tessera/core/error.h"
#include "tessera/dist/data_parallel.h"

namespace tessera::train {

// "optimizer.betas": two numbers, when present.
inline void read_betas(const io::JsonReader& optimizer, double& beta1, double& beta2) {
  std::vector<double> betas;
  if (!optimizer.read("betas", betas)) return;
  if (betas.size() != 2) optimizer.fail("'" + optimizer.field("betas") + "' must hold two numbers");
  beta1 = betas[0], beta2 = betas[1];
}

// "schedule.type", "schedule.warmup_steps" and "schedule.min_lr" (a recipe
// with more schedules reads their keys from the same section afterwards).
template <class R>
void read_schedule_fields(const io::JsonReader& schedule, R& r) {
  schedule.read("type", r.schedule);
  schedule.read("warmup_steps", r.warmup_steps);
  schedule.read("min_lr", r.min_lr);
}

// The "train" fields of every training loop, and the checks both recipes
// make on them.
template <class R>
void read_loop_fields(const io::JsonReader& train, R& r) {
  train.read("steps", r.steps);
  train.read("batch_size", r.batch_size);
  train.read("grad_accum", r.grad_accum);
  train.read("clip_grad_norm", r.clip_grad_norm);
  train.read("eval_every", r.eval_every);
  train.read("log_every", r.log_every);
  train.read("seed", r.seed);
  train.read("threads", r.threads);
  std::string precision;
  if (train.read("precision", precision)) r.precision = parse_precision(precision, train.field("precision"));
}

template <class R>
void check_loop_fields(const io::JsonReader& train, const R& r) {
  TSR_CHECK(r.grad_accum > 0, Error, train.who(), ": '", train.field("grad_accum"), "' must be positive, got ",
            r.grad_accum);
  TSR_CHECK(r.log_every > 0, Error, train.who(), ": '", train.field("log_every"), "' must be positive, got ",
            r.log_every);
  TSR_CHECK(r.threads >= 0, Error, train.who(), ": '", train.field("threads"), "' must be >= 0, got ", r.threads);
}

// "train.checkpoint": {"every", "keep_last"}, when present (returns whether it was).
template <class R>
bool read_checkpoint_section(const io::JsonReader& train, R& r) {
  if (!train.has("checkpoint")) return false;
  io::JsonReader c = train.section("checkpoint");
  c.known_keys({"every", "keep_last"});
  c.read("every", r.checkpoint_every);
  c.read("keep_last", r.keep_last);
  return true;
}

// The top-level "distributed" section, when present: {"shard_optimizer": bool,
// "bucket_mb": number > 0} (dist/data_parallel.h). Ignored in a world of one.
inline void read_distributed_section(const io::JsonReader& top, dist::DataParallelOptions& d) {
  if (!top.has("distributed")) return;
  io::JsonReader s = top.section("distributed");
  s.known_keys({"shard_optimizer", "bucket_mb"});
  s.read("shard_optimizer", d.shard_optimizer);
  s.read("bucket_mb", d.bucket_mb);
  TSR_CHECK(d.bucket_mb > 0, Error, s.who(), ": '", s.field("bucket_mb"), "' must be positive, got ", d.bucket_mb);
}

}  // namespace tessera::train
