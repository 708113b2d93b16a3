// FinetuneConfig of train/finetune.h: a flat JSON recipe read strictly (an
// unknown key or a wrong type is an error naming it, io/json_reader.h).
#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "train/recipe_sections.h"
#include "tessera/train/finetune.h"

using nlohmann::json;

namespace tessera::train {

FinetuneConfig FinetuneConfig::from_json(const std::string& json_text, const std::string& origin) {
  const json j = io::parse_json(json_text, origin + ": not valid JSON: ");
  TSR_CHECK(j.is_object(), Error, origin, ": a fine-tuning recipe must be a JSON object");
  io::JsonReader r(j, origin);
  r.known_keys({"description", "base", "from_scratch", "tokenizer", "train_file", "dev_file", "format", "text_column",
                "label_column", "max_train", "pooling", "head_dropout", "max_len", "mode", "lora_rank", "lora_alpha",
                "lora_dropout", "lora_targets", "merge", "epochs", "batch_size", "eval_batch_size", "log_every", "lr",
                "weight_decay", "warmup", "clip_grad_norm", "seed", "threads", "precision", "checkpoint_every", "keep_last",
                "best_metric", "distributed"});
  FinetuneConfig c;
  read_distributed_section(r, c.distributed);
  r.read("base", c.base);
  r.read("from_scratch", c.from_scratch);
  r.read("tokenizer", c.tokenizer);
  r.read("train_file", c.train_file);
  r.read("dev_file", c.dev_file);
  r.read("format", c.format);
  r.read("text_column", c.text_column);
  r.read("label_column", c.label_column);
  r.read("max_train", c.max_train);
  r.read("pooling", c.pooling);
  r.read("head_dropout", c.head_dropout);
  r.read("max_len", c.max_len);
  r.read("mode", c.mode);
  r.read("lora_rank", c.lora_rank);
  r.read("lora_alpha", c.lora_alpha);
  r.read("lora_dropout", c.lora_dropout);
  r.read("lora_targets", c.lora_targets);
  r.read("merge", c.merge);
  r.read("epochs", c.epochs);
  r.read("batch_size", c.batch_size);
  r.read("eval_batch_size", c.eval_batch_size);
  r.read("log_every", c.log_every);
  r.read("lr", c.lr);
  r.read("weight_decay", c.weight_decay);
  r.read("warmup", c.warmup);
  r.read("clip_grad_norm", c.clip_grad_norm);
  r.read("seed", c.seed);
  r.read("threads", c.threads);
  std::string precision;
  if (r.read("precision", precision)) c.precision = parse_precision(precision, r.field("precision"));
  r.read("checkpoint_every", c.checkpoint_every);
  r.read("keep_last", c.keep_last);
  r.read("best_metric", c.best_metric);
  return c;
}

std::string FinetuneConfig::to_json() const {
  json j = {{"base", base},
            {"from_scratch", from_scratch},
            {"tokenizer", tokenizer},
            {"train_file", train_file},
            {"dev_file", dev_file},
            {"format", format},
            {"text_column", text_column},
            {"label_column", label_column},
            {"max_train", max_train},
            {"pooling", pooling},
            {"head_dropout", head_dropout},
            {"max_len", max_len},
            {"mode", mode},
            {"lora_rank", lora_rank},
            {"lora_alpha", lora_alpha},
            {"lora_dropout", lora_dropout},
            {"lora_targets", lora_targets},
            {"merge", merge},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"eval_batch_size", eval_batch_size},
            {"log_every", log_every},
            {"lr", lr},
            {"weight_decay", weight_decay},
            {"warmup", warmup},
            {"clip_grad_norm", clip_grad_norm},
            {"seed", seed},
            {"threads", threads},
            {"precision", precision_name(precision)},
            {"checkpoint_every", checkpoint_every},
            {"keep_last", keep_last},
            {"best_metric", best_metric}};
  return j.dump(2);
}

void FinetuneConfig::validate() const {
  TSR_CHECK(!base.empty(), Error, "finetune: no base model (--base or \"base\" in the recipe)");
  TSR_CHECK(!train_file.empty(), Error, "finetune: no training file (--train or \"train_file\")");
  TSR_CHECK(!dev_file.empty(), Error, "finetune: no dev file (--dev or \"dev_file\")");
  TSR_CHECK(mode == "full" || mode == "frozen" || mode == "lora", Error, "finetune: mode must be full, frozen or lora, got '",
            mode, "'");
  TSR_CHECK(pooling.empty() || pooling == "cls" || pooling == "last" || pooling == "mean", Error,
            "finetune: pooling must be cls, last or mean, got '", pooling, "'");
  TSR_CHECK(!(from_scratch && mode != "full"), Error, "finetune: from_scratch trains every weight; mode must be full, got '",
            mode, "'");
  TSR_CHECK(!(merge && mode != "lora"), Error, "finetune: merge folds LoRA adapters; it needs mode lora");
  TSR_CHECK(max_len >= 2, Error, "finetune: max_len must be >= 2, got ", max_len);
  TSR_CHECK(epochs >= 1, Error, "finetune: epochs must be >= 1, got ", epochs);
  TSR_CHECK(batch_size >= 1 && eval_batch_size >= 1, Error, "finetune: batch sizes must be >= 1");
  TSR_CHECK(lr > 0, Error, "finetune: lr must be > 0, got ", lr);
  TSR_CHECK(warmup >= 0 && warmup < 1, Error, "finetune: warmup is a fraction of the steps in [0, 1), got ", warmup);
  TSR_CHECK(head_dropout >= 0 && head_dropout < 1, Error, "finetune: head_dropout must be in [0, 1), got ", head_dropout);
  TSR_CHECK(lora_rank >= 1, Error, "finetune: lora_rank must be >= 1, got ", lora_rank);
  TSR_CHECK(checkpoint_every >= 0, Error, "finetune: checkpoint_every must be >= 0 (0: after every epoch), got ",
            checkpoint_every);
  TSR_CHECK(keep_last >= 1, Error, "finetune: keep_last must be >= 1, got ", keep_last);
  TSR_CHECK(best_metric == "accuracy" || best_metric == "macro_f1" || best_metric == "loss", Error,
            "finetune: best_metric must be accuracy, macro_f1 or loss, got '", best_metric, "'");
  TSR_CHECK(max_train >= 0 && log_every >= 0 && weight_decay >= 0 && clip_grad_norm >= 0, Error,
            "finetune: max_train, log_every, weight_decay and clip_grad_norm must be >= 0");
}

}  // namespace tessera::train
