// `tessera finetune`: a pretrained backbone + labeled text -> a classifier
// (train/finetune.h). The recipe (examples/finetune/*.json) and flags share
// key names; flags override the recipe.
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli_common.h"
#include "tessera/train/finetune.h"

using nlohmann::json;

namespace tessera::cli {
namespace {

struct FinetuneArgs {
  std::string config, out;
  std::optional<std::string> base, tokenizer, train, dev, format, text_column, label_column, pooling, mode, lora_targets,
      best_metric;
  std::optional<int64_t> max_train, max_len, lora_rank, epochs, batch_size, eval_batch_size, log_every, checkpoint_every,
      keep_last;
  std::optional<double> head_dropout, lora_alpha, lora_dropout, lr, weight_decay, warmup, clip_grad_norm;
  std::optional<uint64_t> seed;
  std::optional<int> threads;
  std::optional<std::string> precision;
  RunControl run;
  bool from_scratch = false, merge = false;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    if (e > b) out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

int run_finetune(const FinetuneArgs& a) {
  json cfg = a.config.empty() ? json::object() : read_config(a.config);
  auto set = [&cfg](const char* key, const auto& v) {
    if (v) cfg[key] = *v;
  };
  set("base", a.base), set("tokenizer", a.tokenizer), set("train_file", a.train), set("dev_file", a.dev);
  set("format", a.format), set("text_column", a.text_column), set("label_column", a.label_column);
  set("pooling", a.pooling), set("mode", a.mode), set("max_train", a.max_train), set("max_len", a.max_len);
  set("lora_rank", a.lora_rank), set("epochs", a.epochs), set("batch_size", a.batch_size);
  set("eval_batch_size", a.eval_batch_size), set("log_every", a.log_every), set("head_dropout", a.head_dropout);
  set("lora_alpha", a.lora_alpha), set("lora_dropout", a.lora_dropout), set("lr", a.lr);
  set("weight_decay", a.weight_decay), set("warmup", a.warmup), set("clip_grad_norm", a.clip_grad_norm);
  set("seed", a.seed), set("threads", a.threads), set("precision", a.precision), set("checkpoint_every", a.checkpoint_every);
  set("keep_last", a.keep_last), set("best_metric", a.best_metric);
  if (a.lora_targets) cfg["lora_targets"] = split_commas(*a.lora_targets);
  if (a.from_scratch) cfg["from_scratch"] = true;
  if (a.merge) cfg["merge"] = true;
  auto c = train::FinetuneConfig::from_json(cfg.dump(), a.config.empty() ? "flags" : a.config);
  RunProfile profile(a.run);
  auto r = train::finetune(c, a.out,
                           {.quiet = a.run.quiet, .resume = a.run.resume, .stop_after_steps = a.run.stop_after,
                            .hooks = profile.hooks()});
  profile.finish();
  if (r.stop_reason == "interrupted") {
    print_stopped(a.out, r.steps);
    return 0;
  }
  std::cout << "dev accuracy " << r.dev_accuracy << ", macro F1 " << r.dev_macro_f1 << ", trainable parameters "
            << r.trainable_parameters << " (best epoch " << r.best_epoch << ", step " << r.best_step << ")\n";
  return 0;
}

}  // namespace

Command add_finetune_command(CLI::App& app) {
  auto a = std::make_shared<FinetuneArgs>();
  auto* f = app.add_subcommand("finetune", "Fine-tune a GPT/BERT checkpoint into a text classifier (full, frozen, LoRA)");
  f->add_option("-c,--config", a->config, "recipe (JSON, examples/finetune/*.json); flags override its keys");
  f->add_option("-o,--out", a->out,
                "output folder: model/ (the best epoch's classifier), summary.json, metrics.jsonl, dev_report.json, "
                "checkpoints/")
      ->required();
  f->add_option("--base", a->base, "backbone: a tessera pretrain run/checkpoint (GPT or MLM BERT) or a Hugging Face BERT/GPT-2 folder");
  f->add_flag("--from-scratch", a->from_scratch, "the base's architecture and tokenizer with random weights (the baseline)");
  f->add_option("--tokenizer", a->tokenizer, "tokenizer file/folder instead of the base's");
  f->add_option("--train", a->train, "labeled training file (.tsv, .csv, .jsonl, or 'label text' lines)");
  f->add_option("--dev", a->dev, "labeled dev file, evaluated after every epoch");
  f->add_option("--format", a->format, "auto (by extension), tsv, csv, jsonl, label_text");
  f->add_option("--text-column", a->text_column, "text column / JSON field (default: text)");
  f->add_option("--label-column", a->label_column, "label column / JSON field (default: label)");
  f->add_option("--max-train", a->max_train, "use the first N training rows");
  f->add_option("--pooling", a->pooling, "cls, last or mean (default: cls for BERT, last for GPT)");
  f->add_option("--head-dropout", a->head_dropout, "dropout before the classification head (default 0.1)");
  f->add_option("--max-len", a->max_len, "tokens per example, specials included (default 128)");
  f->add_option("--mode", a->mode, "full, frozen (head only) or lora (default full)");
  f->add_option("--lora-rank", a->lora_rank, "LoRA rank r (default 8)");
  f->add_option("--lora-alpha", a->lora_alpha, "LoRA alpha; the update is scaled by alpha / r (default 16)");
  f->add_option("--lora-dropout", a->lora_dropout, "dropout on the LoRA input (default 0)");
  f->add_option("--lora-targets", a->lora_targets,
                "comma-separated linear layers to adapt, by name (default: query,value for BERT, c_attn for GPT)");
  f->add_flag("--merge", a->merge, "lora: also write merged/, the adapters folded into the base weights");
  f->add_option("--epochs", a->epochs, "epochs (default 3)");
  f->add_option("--batch-size", a->batch_size, "batch size (default 32)");
  f->add_option("--eval-batch-size", a->eval_batch_size, "dev batch size (default 64)");
  f->add_option("--lr", a->lr, "peak learning rate (AdamW; default 5e-5)");
  f->add_option("--weight-decay", a->weight_decay, "AdamW weight decay on matrices (default 0.01)");
  f->add_option("--warmup", a->warmup, "warmup as a fraction of all steps, then linear decay to 0 (default 0.1)");
  f->add_option("--clip-grad-norm", a->clip_grad_norm, "gradient norm clip, 0 = off (default 1.0)");
  f->add_option("--seed", a->seed, "seed: head init, LoRA init, dropout, batch order (default 1)");
  f->add_option("--threads", a->threads, "threads (0 = all cores)");
  f->add_option("--precision", a->precision, "fp32 (default), or bf16: GEMMs in bf16, fp32 weights")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  f->add_option("--log-every", a->log_every, "log every N steps (default 50)");
  f->add_option("--checkpoint-every", a->checkpoint_every,
                "steps between checkpoints in --out/checkpoints (default 0: after every epoch)");
  f->add_option("--keep-last", a->keep_last, "checkpoints kept (default 1; model/ always holds the best epoch)");
  f->add_option("--best-metric", a->best_metric, "dev metric that picks the epoch model/ keeps: accuracy (default), "
                "macro_f1 or loss")
      ->check(CLI::IsMember({"accuracy", "macro_f1", "loss"}));
  add_run_control(f, a->run);
  return {f, [a] { return run_finetune(*a); }};
}

}  // namespace tessera::cli
