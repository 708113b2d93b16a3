// Language-model pretraining on token shards (text/shards.h): the loop behind
// `tessera pretrain`. A run is described by a JSON recipe (examples/gpt_*.json,
// examples/bert_mlm_*.json):
//
//   {"description": "...",
//    "objective": "causal" (default) | "mlm"   (`--objective` overrides it),
//    "data": {...}               free-form notes on how the shards were prepared (not read),
//    "model": {...models/gpt.h GPTConfig (causal) | models/bert.h BertConfig's
//              config.json keys (mlm)...; "vocab_size" may be left out: the
//              shards' vocabulary is used; when given it must be >= it},
//    "mlm": {"mask_prob": 0.15, "replace_mask": 0.8, "replace_random": 0.1}   (mlm only, optional),
//    "optimizer": {"type": "adamw", "lr": 6e-4, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8},
//    "schedule": {"type": "cosine" | "linear" | "constant", "warmup_steps": 100, "min_lr": 6e-5},
//    "train": {"steps": 1000, "batch_size": 12, "seq_len": 0 (0: model.block_size /
//              max_position_embeddings), "grad_accum": 1,
//              "clip_grad_norm": 1.0, "eval_every": 100, "eval_batches": 20, "log_every": 10,
//              "seed": 1337, "threads": 0, "peak_flops": 0 (0: the measured peak, below),
//              "checkpoint": {"every": 0 (0: at each evaluation), "keep_last": 2}}}
// eval_every 0 evaluates only after the last step (and so, with checkpoint.every
// 0, checkpoints only then). Validation loss is the mean over eval_batches
// fixed windows of the val split (the same windows at every evaluation).
//
// Objective "causal": a GPT predicts every next token of seq_len-token windows.
//
// Objective "mlm": a BertForMaskedLM (models/bert.h) on RoBERTa-style packed
// windows: each example is seq_len - 2 consecutive shard tokens (crossing
// document separators, which are [SEP] for a WordPiece vocabulary, see
// `tessera data prepare`) wrapped as [CLS] window [SEP]: no padding, no
// next-sentence task, token type 0 throughout. lm/mlm.h's mask_tokens selects
// 15% of the non-special positions (80% -> [MASK], 10% -> a random id, 10%
// kept) from its own Philox stream, saved in checkpoints; the loss is the
// cross-entropy over the selected positions. The tokenizer must have [CLS],
// [SEP], [MASK] and [PAD] (model.pad_token_id defaults to [PAD]'s id).
// Validation masks come from a stream restarted at every evaluation, so every
// evaluation scores the same masked positions. The MFU estimate uses GPT's
// formula, 6 N + 12 L H T per token (N without position/token-type
// embeddings), an approximation for BERT (see lm/masked_objective.cpp).
//
// AdamW's groups are nanoGPT's: weight decay on every 2-D weight (embeddings
// included), none on biases and norm weights. The learning rate warms up
// linearly, then decays (cosine) to min_lr at the last step.
//
// The output folder holds metrics.jsonl (a JSON object per log/eval line:
// step, loss, lr, tokens_per_second, mfu, and val_loss on evaluation steps),
// summary.json, and checkpoints/step-N/ (checkpoint/folders.h's atomic folders):
//   model.safetensors  causal: GPT's parameters under Hugging Face GPT-2 names;
//                      mlm: BertForMaskedLM's state_dict under HF names (bert.*, cls.predictions.*)
//   config.json        {"format_version", "step", "task": "language_model",
//                       "model": GPTConfig, "recipe": {...}, "tokenizer": {"file":
//                       "tokenizer.json", "fingerprint"}, "data": {"dir", "meta"}};
//                      mlm: "task": "masked_language_model", "architecture": "bert",
//                       "model": BertConfig (HF config.json), "mlm": {"mask_prob",
//                       "replace_mask", "replace_random", "seq_len"}, and the rest as above
//   tokenizer.json     a copy of the shards' tokenizer (generation needs only this folder)
//   optimizer.bin, scheduler.bin, trainer_state.json (step, counters, the
//                       batch sampler's and the dropout's Philox states; mlm: the masking stream's)
// A run resumed from step-k ends with the same weights, bit for bit, as an
// uninterrupted run at the same thread count. The steps run in the one loop
// of train/loop.h; the objectives are lm/lm_objective.h's.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <vector>

#include "tessera/core/error.h"
#include "tessera/models/gpt.h"
#include "tessera/train/loop.h"

namespace tessera::lm {

// MFU (progress, metrics.jsonl, summary.json "mfu", "peak_flops",
// "precision") divides the model FLOP/s by the peak of the running machine
// for the run's precision and thread count, measured once and cached
// (core/machine_peak.h: fp32 FMA or bf16 dot-product throughput, what the
// cores can issue, so MFU reads as in the literature: a fraction of the
// hardware's peak). train.peak_flops or --peak-flops overrides it.

struct PretrainOptions {
  bool resume = false;           // continue from <out>/checkpoints' newest step
  bool quiet = false;            // no progress output
  int64_t stop_after_steps = 0;  // > 0: checkpoint and return after this step (a simulated interruption)
  // A tokenizer.json to copy into checkpoints instead of <data>/tokenizer.json,
  // with its fingerprint (text::tokenizer_fingerprint), checked against the shards'.
  std::string tokenizer_file;
  std::optional<uint64_t> tokenizer_fingerprint;
  std::vector<train::StepHook*> hooks = {};  // train/loop.h step hooks, in order (not owned)
};

struct PretrainResult {
  int64_t steps = 0;
  std::string stop_reason;  // "completed", "interrupted"
  double train_loss = 0;    // mean over the last log window
  std::optional<double> val_loss;
  std::string summary_json;
};

// The loss became NaN or infinite: the message names the step and the last good checkpoint.
using NonFiniteLossError = train::NonFiniteLossError;

// recipe_json: the recipe with flag overrides applied.
PretrainResult pretrain(const std::string& recipe_json, const std::string& data_dir, const std::string& out_dir,
                        const PretrainOptions& options = {});

// Loading a checkpoint for generation: checkpoint/language_model.h's load_gpt
// reads these folders (config.json "model", model.safetensors, tokenizer.json);
// lm/evaluate.h scores held-out text with either kind.

}  // namespace tessera::lm
