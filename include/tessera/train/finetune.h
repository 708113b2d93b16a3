// Fine-tuning a pretrained backbone into a text classifier: the library behind
// `tessera finetune` and the classifier side of `tessera eval`.
//
// A backbone is a Tessera GPT checkpoint (`tessera pretrain`, causal), a Tessera
// BERT checkpoint (`tessera pretrain --objective mlm`), or a Hugging Face folder
// (BERT family: config.json + model.safetensors + vocab.txt; GPT-2). A
// SequenceClassifier (models/classifier.h) pools its hidden states ([CLS],
// last token or masked mean) into a linear head. Modes:
//   full    every parameter trains; the checkpoint holds the whole model
//   frozen  only the head trains; the checkpoint holds the head
//   lora    rank-r adapters on the chosen linear layers plus the head train;
//           the checkpoint holds only those (merge folds them into the base)
// frozen and lora checkpoints name their base model (path and a fingerprint of
// its weights) and refuse to load over another base.
//
// Training runs in the one loop of train/loop.h (the objective is
// SequenceClassificationObjective): length-bucketed batches in a seeded order,
// AdamW with linear warmup and decay, a dev evaluation after every epoch.
// A fine-tuning run writes to its output folder:
//   model/            the best epoch's classifier (by best_metric on the dev
//                     set): config.json (below), classifier.safetensors, tokenizer.json
//   merged/           (lora with merge) the same classifier as a full checkpoint
//   metrics.jsonl     one JSON object per log line and per epoch's evaluation
//   dev_report.json   the best epoch's dev classification report
//   summary.json      dev_accuracy, dev_macro_f1 (the best epoch's), best_epoch,
//                     best_step, trainable_parameters, ... (FinetuneResult)
//   checkpoints/step-N/  (checkpoint/folders.h) a classifier folder as model/ plus
//                     optimizer.bin, scheduler.bin and trainer_state.json (the
//                     batch order's and every dropout stream's state, the
//                     position inside the epoch, the best dev score so far):
//                     `--resume` continues from the newest one and ends with the
//                     same weights, bit for bit, as an uninterrupted run.
//
// model/config.json: {"format_version": 1, "task": "sequence_classification",
//   "backbone": {"kind": "gpt" | "bert", "config": {...}, "base": PATH | null,
//                "base_format": ..., "fingerprint": HEX, "from_scratch": bool},
//   "head": {"pooling", "dropout"}, "labels": [...], "max_len": N, "mode": ...,
//   "lora": {"rank", "alpha", "dropout", "targets", "layers"} | null,
//   "data": {"format", "text_column", "label_column"}, "recipe": {...}}
#pragma once
#include "tessera/dist/data_parallel.h"
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/checkpoint/classifier.h"
#include "tessera/core/autocast.h"
#include "tessera/models/classifier.h"
#include "tessera/nn/lora.h"
#include "tessera/text/tokenizer.h"

namespace tessera::train {

// The recipe: a JSON object whose keys are these fields' names (see
// examples/finetune/*.json); unknown keys are errors naming the key.
struct FinetuneConfig {
  std::string base;            // backbone folder (see above)
  bool from_scratch = false;   // the base's architecture with fresh random weights
  std::string tokenizer;       // overrides the base's tokenizer
  std::string train_file, dev_file;
  std::string format = "auto", text_column = "text", label_column = "label";
  int64_t max_train = 0;       // > 0: the first N training rows
  std::string pooling;         // "cls" | "last" | "mean"; "" = cls for BERT, last for GPT
  double head_dropout = 0.1;
  int64_t max_len = 128;       // tokens per example, specials included
  std::string mode = "full";   // "full" | "frozen" | "lora"
  int64_t lora_rank = 8;
  double lora_alpha = 16, lora_dropout = 0.0;
  std::vector<std::string> lora_targets;  // empty: query,value (BERT) / c_attn (GPT)
  bool merge = false;          // lora: also write merged/ (adapters folded in)
  int64_t epochs = 3, batch_size = 32, eval_batch_size = 64, log_every = 50;
  double lr = 5e-5, weight_decay = 0.01, warmup = 0.1, clip_grad_norm = 1.0;
  uint64_t seed = 1;
  int threads = 0;             // 0: all cores
  Precision precision = Precision::fp32;  // "precision": "fp32" | "bf16" (GEMMs; see train/loop.h)
  dist::DataParallelOptions distributed;  // "distributed": under mpirun (dist/data_parallel.h)
  int64_t checkpoint_every = 0;     // steps between step folders; 0: after every epoch
  int64_t keep_last = 1;            // step folders kept (model/ always holds the best)
  std::string best_metric = "accuracy";  // "accuracy" | "macro_f1" | "loss": picks the epoch model/ holds

  static FinetuneConfig from_json(const std::string& json_text, const std::string& origin = "recipe");
  std::string to_json() const;
  void validate() const;       // errors name the field
};

struct FinetuneResult {
  double dev_accuracy = 0, dev_macro_f1 = 0;  // of the best epoch (the classifier in model/)
  int64_t best_epoch = 0, best_step = 0;      // 1-based epoch; the optimizer step it ended at
  int64_t trainable_parameters = 0;
  int64_t steps = 0;
  std::string stop_reason;                    // "completed" or "interrupted" (stop_after_steps)
  std::string summary_json;                   // "" when interrupted
};

class StepHook;

struct FinetuneOptions {
  bool quiet = false;            // no progress output
  bool resume = false;           // continue from <out>/checkpoints' newest step
  int64_t stop_after_steps = 0;  // > 0: checkpoint and return after this step (a simulated interruption)
  std::vector<StepHook*> hooks = {};  // train/loop.h step hooks, in order (not owned)
};

FinetuneResult finetune(const FinetuneConfig& config, const std::string& out_dir, const FinetuneOptions& options = {});

// Loading a classifier checkpoint (model/, merged/ or the run folder):
// checkpoint/classifier.h.

// Token ids as the classifier sees them: [CLS] pieces [SEP] for BERT, the
// tokenizer's ids for GPT; at most max_len. Throws on empty text.
std::vector<int32_t> encode_example(const text::Tokenizer& tok, const std::string& kind, const std::string& text,
                                    int64_t max_len);

// Class probabilities (N, labels) for texts, in order; eval mode, batches of
// batch_size sorted by length (padding is masked, so order does not matter).
std::vector<std::vector<float>> predict_probabilities(checkpoint::LoadedClassifier& c, const std::vector<std::string>& texts,
                                                      int64_t batch_size = 64);

}  // namespace tessera::train
