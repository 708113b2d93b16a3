// GPT pretraining on token shards (text/shards.h): the loop behind
// `tessera pretrain`. A run is described by a JSON recipe (examples/gpt_*.json):
//
//   {"description": "...",
//    "data": {...}               free-form notes on how the shards were prepared (not read),
//    "model": {...models/gpt.h GPTConfig...; "vocab_size" may be left out: the
//              shards' vocabulary is used; when given it must be >= it},
//    "optimizer": {"type": "adamw", "lr": 6e-4, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8},
//    "schedule": {"type": "cosine" | "linear" | "constant", "warmup_steps": 100, "min_lr": 6e-5},
//    "train": {"steps": 1000, "batch_size": 12, "seq_len": 0 (0: model.block_size), "grad_accum": 1,
//              "clip_grad_norm": 1.0, "eval_every": 100, "eval_batches": 20, "log_every": 10,
//              "seed": 1337, "threads": 0, "peak_flops": 0 (0: kDefaultPeakFlops),
//              "checkpoint": {"every": 0 (0: at each evaluation), "keep_last": 2}}}
// eval_every 0 evaluates only after the last step (and so, with checkpoint.every
// 0, checkpoints only then). Validation loss is the mean over eval_batches
// fixed windows of the val split (the same windows at every evaluation).
//
// AdamW's groups are nanoGPT's: weight decay on every 2-D weight (embeddings
// included), none on biases and norm weights. The learning rate warms up
// linearly, then decays (cosine) to min_lr at the last step.
//
// The output folder holds metrics.jsonl (a JSON object per log/eval line:
// step, loss, lr, tokens_per_second, mfu, and val_loss on evaluation steps),
// summary.json, and checkpoints/step-N/ (train/checkpoint.h's atomic folders):
//   model.safetensors  GPT's parameters under Hugging Face GPT-2 names
//   config.json        {"format_version", "step", "task": "language_model",
//                       "model": GPTConfig, "recipe": {...}, "tokenizer": {"file":
//                       "tokenizer.json", "fingerprint"}, "data": {"dir", "meta"}}
//   tokenizer.json     a copy of the shards' tokenizer (generation needs only this folder)
//   optimizer.bin, scheduler.bin, trainer_state.json (step, counters, the
//                       batch sampler's and the dropout's Philox states)
// A run resumed from step-k ends with the same weights, bit for bit, as an
// uninterrupted run at the same thread count.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tessera/core/error.h"
#include "tessera/models/gpt.h"

namespace tessera::lm {

// Default peak FLOP/s for the MFU estimate: the measured fp32 GEMM peak of
// this project's 2-core CPU (docs/blas.md: a 1024x768 @ 768x768 GEMM runs at
// 106 / 205 GFLOP/s on 1 / 2 threads), rounded to 2 cores x 110 GFLOP/s. It is
// a practical peak (what the best kernel reaches), not the vendor's theoretical
// one, so MFU reads as "fraction of the GEMM speed". Set train.peak_flops or
// --peak-flops for another machine.
inline constexpr double kDefaultPeakFlops = 2 * 110e9;

struct PretrainOptions {
  bool resume = false;           // continue from <out>/checkpoints' newest step
  bool quiet = false;            // no progress output
  int64_t stop_after_steps = 0;  // > 0: checkpoint and return after this step (a simulated interruption)
  // A tokenizer.json to copy into checkpoints instead of <data>/tokenizer.json,
  // with its fingerprint (text::tokenizer_fingerprint), checked against the shards'.
  std::string tokenizer_file;
  std::optional<uint64_t> tokenizer_fingerprint;
};

struct PretrainResult {
  int64_t steps = 0;
  std::string stop_reason;  // "completed", "interrupted"
  double train_loss = 0;    // mean over the last log window
  std::optional<double> val_loss;
  std::string summary_json;
};

// The loss became NaN or infinite: the message names the step and the last good checkpoint.
class NonFiniteLossError : public Error {
  using Error::Error;
};

// recipe_json: the recipe with flag overrides applied.
PretrainResult pretrain(const std::string& recipe_json, const std::string& data_dir, const std::string& out_dir,
                        const PretrainOptions& options = {});

// Loading a checkpoint for generation: lm/generate.h's load_gpt_checkpoint
// reads these folders (config.json "model", model.safetensors, tokenizer.json).

}  // namespace tessera::lm
