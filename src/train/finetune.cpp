// `tessera finetune` (train/finetune.h): labeled text -> token ids -> a
// SequenceClassifier on the backbone (full, frozen or LoRA) -> AdamW with
// linear warmup/decay in the one training loop of train/loop.h, driven by
// SequenceClassificationObjective (dev evaluation per epoch, the best epoch
// kept in model/, step folders, exact resume).
#include <filesystem>
#include <map>

#include "tessera/core/parallel.h"
#include "tessera/data/text_table.h"
#include "tessera/text/wordpiece.h"
#include "tessera/train/loop.h"
#include "train/finetune_internal.h"
#include "train/optimizer_setup.h"
#include "train/sequence_classification_objective.h"

namespace tessera::train {

namespace {

// Reads and encodes the data, loads the backbone and builds the classifier
// (with adapters or a frozen backbone by mode).
SequenceClassificationSetup build(const FinetuneConfig& cfg, const std::string& out_dir) {
  SequenceClassificationSetup s;
  s.config = cfg;
  s.out_dir = out_dir;
  data::TextTableOptions to;
  to.format = cfg.format, to.text_column = cfg.text_column, to.label_column = cfg.label_column;
  auto train_rows = data::read_text_table(cfg.train_file, to);
  if (cfg.max_train > 0 && static_cast<int64_t>(train_rows.size()) > cfg.max_train)
    train_rows.resize(static_cast<size_t>(cfg.max_train));
  auto dev_rows = data::read_text_table(cfg.dev_file, to);
  s.labels = label_set(train_rows);
  TSR_CHECK(s.labels.size() >= 2, Error, cfg.train_file, ": a classifier needs at least 2 labels; found ",
            s.labels.size());
  std::map<std::string, int64_t> label_id;
  for (size_t i = 0; i < s.labels.size(); ++i) label_id[s.labels[i]] = static_cast<int64_t>(i);

  s.backbone = detail::load_backbone(cfg.base, cfg.tokenizer, cfg.from_scratch, cfg.seed);
  const detail::Backbone& bb = s.backbone;
  s.pooling = !cfg.pooling.empty() ? cfg.pooling : bb.kind == "bert" ? "cls" : "last";
  TSR_CHECK(!(bb.kind == "gpt" && s.pooling == "cls"), Error,
            "finetune: pooling 'cls' needs a bidirectional encoder (BERT); ", cfg.base,
            " is a GPT, whose first token sees nothing after it: use pooling last or mean");
  s.pad_id = bb.kind == "bert" ? dynamic_cast<const text::WordPieceTokenizer&>(*bb.tokenizer).pad_id() : 0;
  s.train = encode_rows(train_rows, label_id, s.labels, *bb.tokenizer, bb.kind, cfg.max_len, cfg.train_file);
  s.dev = encode_rows(dev_rows, label_id, s.labels, *bb.tokenizer, bb.kind, cfg.max_len, cfg.dev_file);
  const int64_t max_positions =
      bb.kind == "gpt" ? bb.gpt->config().block_size : bb.bert->config().max_position_embeddings;
  TSR_CHECK(cfg.max_len <= max_positions, Error, "finetune: max_len ", cfg.max_len, " exceeds the model's ",
            max_positions, " positions");

  models::ClassifierOptions co;
  co.pooling = s.pooling, co.num_labels = static_cast<int64_t>(s.labels.size()), co.dropout = cfg.head_dropout;
  s.model = bb.kind == "gpt" ? std::make_shared<models::SequenceClassifier>(bb.gpt, co, cfg.seed)
                             : std::make_shared<models::SequenceClassifier>(bb.bert, co, cfg.seed);
  if (cfg.mode == "lora") {
    s.lora.rank = cfg.lora_rank, s.lora.alpha = cfg.lora_alpha, s.lora.dropout = cfg.lora_dropout;
    s.lora.targets = !cfg.lora_targets.empty() ? cfg.lora_targets
                     : bb.kind == "bert"       ? std::vector<std::string>{"query", "value"}
                                               : std::vector<std::string>{"c_attn"};
    s.lora_layers = nn::apply_lora(*s.model, s.lora, cfg.seed);
    nn::mark_only_lora_trainable(*s.model, {"head."});
  } else if (cfg.mode == "frozen") {
    s.model->backbone().requires_grad_(false);
  }
  return s;
}

}  // namespace

FinetuneResult finetune(const FinetuneConfig& cfg, const std::string& out_dir, const FinetuneOptions& options) {
  cfg.validate();
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  SequenceClassificationObjective objective(build(cfg, out_dir));
  OptimizerSpec o;
  o.type = "adamw", o.lr = cfg.lr, o.weight_decay = cfg.weight_decay;
  auto optimizer = make_optimizer(objective.module(), o);
  const int64_t steps_per_epoch = objective.steps_per_epoch(), total_steps = steps_per_epoch * cfg.epochs;
  const auto warmup = static_cast<int64_t>(cfg.warmup * static_cast<double>(total_steps));
  auto scheduler = make_scheduler(*optimizer, {"linear", warmup, 0.0}, total_steps);

  LoopConfig c;
  c.out_dir = out_dir;
  c.total_steps = total_steps;
  c.clip_grad_norm = cfg.clip_grad_norm;
  c.precision = cfg.precision;
  c.log_every = cfg.log_every;
  c.eval_every = steps_per_epoch;  // the dev set after every epoch
  c.checkpoint_every = cfg.checkpoint_every;
  c.keep_last = cfg.keep_last;
  c.best_metric = cfg.best_metric;
  c.keep_best_checkpoint = false;  // model/ holds the best classifier
  c.resume = options.resume, c.quiet = options.quiet, c.stop_after_steps = options.stop_after_steps;
  auto data_parallel = dist::make_data_parallel(*optimizer, cfg.distributed, c);  // under mpirun
  TrainingLoop loop(objective, *optimizer, *scheduler, c);
  if (data_parallel) loop.add_hook(*data_parallel);
  loop.add_hooks(options.hooks);
  LoopResult lr = loop.run();

  FinetuneResult r;
  r.steps = lr.steps;
  r.stop_reason = lr.stop_reason;
  r.best_step = lr.best_step;
  r.best_epoch = objective.best_epoch();
  r.trainable_parameters = objective.trainable_parameters();
  if (const auto& best = objective.best_report()) r.dev_accuracy = best->accuracy, r.dev_macro_f1 = best->macro.fscore;
  r.summary_json = lr.summary_json;
  return r;
}

}  // namespace tessera::train
