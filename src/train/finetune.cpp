// The fine-tuning loop of train/finetune.h: labeled text -> token ids ->
// length-bucketed batches -> AdamW with linear warmup/decay -> a dev
// evaluation per epoch -> the classifier checkpoint and summary.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "finetune_internal.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/parallel.h"
#include "tessera/data/text_table.h"
#include "tessera/io/atomic_file.h"
#include "tessera/metrics/report.h"
#include "tessera/nn/regularization.h"
#include "tessera/ops/loss.h"
#include "tessera/ops/reduce.h"
#include "tessera/optim/adam.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/text/wordpiece.h"

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace tessera::train {
namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool is_integer(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// The label set of the training file: numeric order when every label is an
// integer ("2" before "10"), else byte order.
std::vector<std::string> label_set(const std::vector<data::TextExample>& rows) {
  std::set<std::string> s;
  for (const auto& r : rows) s.insert(r.label);
  std::vector<std::string> v(s.begin(), s.end());
  if (std::all_of(v.begin(), v.end(), is_integer))
    std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return v;
}

struct Encoded {
  std::vector<std::vector<int32_t>> ids;
  std::vector<int64_t> y;
};

Encoded encode_rows(const std::vector<data::TextExample>& rows, const std::map<std::string, int64_t>& label_id,
                    const std::vector<std::string>& labels, const text::Tokenizer& tok, const std::string& kind,
                    int64_t max_len, const std::string& file) {
  Encoded e;
  e.ids.reserve(rows.size());
  for (const auto& r : rows) {
    auto it = label_id.find(r.label);
    if (it == label_id.end()) {
      std::string known;
      for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
      throw Error(file + ":" + std::to_string(r.line) + ": label '" + r.label +
                  "' never appears in the training file (its labels: " + known + ")");
    }
    try {
      e.ids.push_back(encode_example(tok, kind, r.text, max_len));
    } catch (const Error& err) {
      throw Error(file + ":" + std::to_string(r.line) + ": " + err.what());
    }
    e.y.push_back(it->second);
  }
  return e;
}

// Shuffled, then sorted by length within chunks of 100 batches, cut into
// batches, and the batches shuffled: little padding, still random
// (examples/finetune/torch_finetune.py does the same).
std::vector<std::vector<size_t>> bucketed_batches(const std::vector<std::vector<int32_t>>& ids, int64_t batch,
                                                  Generator& gen) {
  const size_t n = ids.size();
  auto shuffle = [&gen](auto& v) {
    Tensor keys = rand({static_cast<int64_t>(v.size())}, gen);
    const float* k = keys.data<float>();
    std::vector<size_t> idx(v.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [k](size_t a, size_t b) { return k[a] < k[b]; });
    auto copy = v;
    for (size_t i = 0; i < idx.size(); ++i) v[i] = copy[idx[i]];
  };
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  shuffle(order);
  std::vector<std::vector<size_t>> batches;
  const size_t span = static_cast<size_t>(batch) * 100;
  for (size_t s = 0; s < n; s += span) {
    std::vector<size_t> part(order.begin() + static_cast<std::ptrdiff_t>(s),
                             order.begin() + static_cast<std::ptrdiff_t>(std::min(n, s + span)));
    std::stable_sort(part.begin(), part.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
    for (size_t i = 0; i < part.size(); i += static_cast<size_t>(batch))
      batches.emplace_back(part.begin() + static_cast<std::ptrdiff_t>(i),
                           part.begin() + static_cast<std::ptrdiff_t>(std::min(part.size(), i + static_cast<size_t>(batch))));
  }
  shuffle(batches);
  return batches;
}

struct DevScores {
  metrics::ClassificationReport report;
  double loss = 0;
};

DevScores evaluate_dev(models::SequenceClassifier& model, const Encoded& dev, int32_t pad, int64_t batch_size,
                       const std::vector<std::string>& labels) {
  model.eval();
  NoGradGuard no_grad;
  std::vector<size_t> order(dev.ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return dev.ids[a].size() < dev.ids[b].size(); });
  std::vector<int64_t> pred(dev.ids.size());
  double loss_sum = 0;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(order.size(), s + static_cast<size_t>(batch_size));
    std::vector<std::vector<int32_t>> batch;
    std::vector<int64_t> y;
    for (size_t k = s; k < e; ++k) batch.push_back(dev.ids[order[k]]), y.push_back(dev.y[order[k]]);
    auto [x, lengths] = models::pad_batch(batch, pad);
    Tensor logits = model.forward(x, lengths);
    Tensor target = from_vector<int64_t>(y, {static_cast<int64_t>(y.size())});
    loss_sum += cross_entropy(logits, target).item() * static_cast<double>(y.size());
    Tensor am = argmax(logits, 1).contiguous();
    for (size_t k = s; k < e; ++k) pred[order[k]] = am.data<int64_t>()[k - s];
  }
  model.train();
  metrics::ReportOptions ro;
  ro.class_names = labels;
  for (size_t i = 0; i < labels.size(); ++i) ro.scoring.labels.push_back(static_cast<int64_t>(i));
  DevScores d;
  d.report = metrics::classification_report(dev.y, pred, static_cast<int64_t>(labels.size()), ro);
  d.loss = loss_sum / static_cast<double>(std::max<size_t>(1, dev.ids.size()));
  d.report.loss = d.loss;
  return d;
}

}  // namespace

FinetuneResult finetune(const FinetuneConfig& cfg, const std::string& out_dir, bool quiet) {
  cfg.validate();
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  const auto t_start = Clock::now();
  auto say = [quiet](const std::string& s) {
    if (!quiet) std::cout << s << std::endl;
  };

  // ---- data ----
  data::TextTableOptions to;
  to.format = cfg.format, to.text_column = cfg.text_column, to.label_column = cfg.label_column;
  auto train_rows = data::read_text_table(cfg.train_file, to);
  if (cfg.max_train > 0 && static_cast<int64_t>(train_rows.size()) > cfg.max_train)
    train_rows.resize(static_cast<size_t>(cfg.max_train));
  auto dev_rows = data::read_text_table(cfg.dev_file, to);
  std::vector<std::string> labels = label_set(train_rows);
  TSR_CHECK(labels.size() >= 2, Error, cfg.train_file, ": a classifier needs at least 2 labels; found ", labels.size());
  std::map<std::string, int64_t> label_id;
  for (size_t i = 0; i < labels.size(); ++i) label_id[labels[i]] = static_cast<int64_t>(i);

  // ---- model ----
  detail::Backbone bb = detail::load_backbone(cfg.base, cfg.tokenizer, cfg.from_scratch, cfg.seed);
  const std::string pooling = !cfg.pooling.empty() ? cfg.pooling : bb.kind == "bert" ? "cls" : "last";
  TSR_CHECK(!(bb.kind == "gpt" && pooling == "cls"), Error, "finetune: pooling 'cls' needs a bidirectional encoder (BERT); ",
            cfg.base, " is a GPT, whose first token sees nothing after it: use pooling last or mean");
  const int32_t pad = bb.kind == "bert" ? dynamic_cast<const text::WordPieceTokenizer&>(*bb.tokenizer).pad_id() : 0;
  Encoded train = encode_rows(train_rows, label_id, labels, *bb.tokenizer, bb.kind, cfg.max_len, cfg.train_file);
  Encoded dev = encode_rows(dev_rows, label_id, labels, *bb.tokenizer, bb.kind, cfg.max_len, cfg.dev_file);
  const int64_t max_positions = bb.kind == "gpt" ? bb.gpt->config().block_size : bb.bert->config().max_position_embeddings;
  TSR_CHECK(cfg.max_len <= max_positions, Error, "finetune: max_len ", cfg.max_len, " exceeds the model's ", max_positions,
            " positions");

  models::ClassifierOptions co;
  co.pooling = pooling, co.num_labels = static_cast<int64_t>(labels.size()), co.dropout = cfg.head_dropout;
  auto model = bb.kind == "gpt" ? std::make_shared<models::SequenceClassifier>(bb.gpt, co, cfg.seed)
                                : std::make_shared<models::SequenceClassifier>(bb.bert, co, cfg.seed);
  nn::LoraOptions lo;
  std::vector<std::string> lora_layers;
  if (cfg.mode == "lora") {
    lo.rank = cfg.lora_rank, lo.alpha = cfg.lora_alpha, lo.dropout = cfg.lora_dropout;
    lo.targets = !cfg.lora_targets.empty() ? cfg.lora_targets
                 : bb.kind == "bert"       ? std::vector<std::string>{"query", "value"}
                                           : std::vector<std::string>{"c_attn"};
    lora_layers = nn::apply_lora(*model, lo, cfg.seed);
    nn::mark_only_lora_trainable(*model, {"head."});
  } else if (cfg.mode == "frozen") {
    model->backbone().requires_grad_(false);
  }
  int64_t trainable = 0, total = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  model->train();
  optim::AdamWOptions ao;
  ao.lr = cfg.lr, ao.weight_decay = cfg.weight_decay;
  optim::AdamW opt(optim::decay_groups(*model, cfg.weight_decay), ao);
  const int64_t steps_per_epoch = (static_cast<int64_t>(train.ids.size()) + cfg.batch_size - 1) / cfg.batch_size;
  const int64_t total_steps = steps_per_epoch * cfg.epochs;
  optim::WarmupLinearLR sched(opt, static_cast<int64_t>(cfg.warmup * static_cast<double>(total_steps)), total_steps, 0.0);
  std::vector<Tensor> params;
  for (const auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  TSR_CHECK(!ec, Error, "finetune: cannot create ", out_dir, ": ", ec.message());
  std::ofstream metrics_out(fs::path(out_dir) / "metrics.jsonl", std::ios::trunc);
  TSR_CHECK(metrics_out, Error, "finetune: cannot write ", (fs::path(out_dir) / "metrics.jsonl").string());
  say("finetune: " + bb.kind + " backbone from " + (bb.base.empty() ? std::string("scratch") : bb.base) + ", mode " +
      cfg.mode + ", pooling " + pooling + ", " + std::to_string(labels.size()) + " labels, " +
      std::to_string(train.ids.size()) + " train / " + std::to_string(dev.ids.size()) + " dev examples, " +
      std::to_string(trainable) + " of " + std::to_string(total) + " parameters trainable");

  // ---- train ----
  Generator gen(cfg.seed * 0x9E3779B97F4A7C15ull + 1);
  int64_t step = 0;
  std::vector<double> epoch_seconds;
  DevScores last;
  for (int64_t epoch = 0; epoch < cfg.epochs; ++epoch) {
    const auto t0 = Clock::now();
    double loss_window = 0;
    int64_t window = 0, examples = 0;
    for (const auto& b : bucketed_batches(train.ids, cfg.batch_size, gen)) {
      std::vector<std::vector<int32_t>> seqs;
      std::vector<int64_t> y;
      for (size_t i : b) seqs.push_back(train.ids[i]), y.push_back(train.y[i]);
      auto [x, lengths] = models::pad_batch(seqs, pad);
      Tensor loss = cross_entropy(model->forward(x, lengths), from_vector<int64_t>(y, {static_cast<int64_t>(y.size())}));
      const double v = loss.item();
      TSR_CHECK(std::isfinite(v), Error, "finetune: the loss became ", v, " at step ", step,
                "; lower the learning rate (lr ", cfg.lr, ")");
      opt.zero_grad();
      loss.backward();
      if (cfg.clip_grad_norm > 0) nn::clip_grad_norm_(params, cfg.clip_grad_norm);
      opt.step();
      sched.step();
      ++step;
      loss_window += v, ++window, examples += static_cast<int64_t>(b.size());
      if (cfg.log_every > 0 && step % cfg.log_every == 0) {
        const double el = seconds_since(t0);
        json j = {{"step", step}, {"epoch", epoch}, {"loss", loss_window / static_cast<double>(window)},
                  {"lr", opt.lr(0)}, {"examples_per_second", static_cast<double>(examples) / el}};
        metrics_out << j.dump() << "\n" << std::flush;
        char line[200];
        std::snprintf(line, sizeof line, "epoch %lld step %lld/%lld  loss %.4f  lr %.2e  %.0f ex/s",
                      static_cast<long long>(epoch + 1), static_cast<long long>(step),
                      static_cast<long long>(total_steps), loss_window / static_cast<double>(window),
                      opt.lr(0), static_cast<double>(examples) / el);
        say(line);
        loss_window = 0, window = 0;
      }
    }
    epoch_seconds.push_back(seconds_since(t0));
    last = evaluate_dev(*model, dev, pad, cfg.eval_batch_size, labels);
    json j = {{"epoch", epoch + 1}, {"step", step}, {"epoch_seconds", epoch_seconds.back()},
              {"dev_loss", last.loss}, {"dev_accuracy", last.report.accuracy}, {"dev_macro_f1", last.report.macro.fscore}};
    metrics_out << j.dump() << "\n" << std::flush;
    char line[200];
    std::snprintf(line, sizeof line, "epoch %lld: dev accuracy %.4f  macro F1 %.4f  loss %.4f  (%.1f s)",
                  static_cast<long long>(epoch + 1), last.report.accuracy, last.report.macro.fscore, last.loss,
                  epoch_seconds.back());
    say(line);
  }

  // ---- save ----
  detail::ClassifierMeta meta;
  meta.backbone = &bb, meta.labels = labels, meta.max_len = cfg.max_len, meta.mode = cfg.mode;
  meta.pooling = pooling, meta.head_dropout = cfg.head_dropout, meta.lora = lo, meta.lora_layers = lora_layers;
  meta.format = cfg.format, meta.text_column = cfg.text_column, meta.label_column = cfg.label_column;
  meta.recipe = json::parse(cfg.to_json());
  const int64_t ckpt_bytes = detail::save_classifier((fs::path(out_dir) / "model").string(), *model, meta);
  int64_t merged_bytes = 0;
  if (cfg.merge) {
    nn::merge_all_lora(*model);
    detail::ClassifierMeta m2 = meta;
    m2.mode = "full", m2.lora_layers.clear();
    merged_bytes = detail::save_classifier((fs::path(out_dir) / "merged").string(), *model, m2);
  }
  io::write_file_atomic((fs::path(out_dir) / "dev_report.json").string(), last.report.to_json() + "\n");
  const double wall = seconds_since(t_start);
  double train_seconds = 0;
  for (double s : epoch_seconds) train_seconds += s;
  json summary = {{"dev_accuracy", last.report.accuracy},
                  {"dev_macro_f1", last.report.macro.fscore},
                  {"dev_micro_f1", last.report.micro.fscore},
                  {"dev_weighted_f1", last.report.weighted.fscore},
                  {"dev_loss", last.loss},
                  {"trainable_parameters", trainable},
                  {"total_parameters", total},
                  {"checkpoint_bytes", ckpt_bytes},
                  {"merged_checkpoint_bytes", cfg.merge ? json(merged_bytes) : json(nullptr)},
                  {"mode", cfg.mode},
                  {"backbone", bb.kind},
                  {"base", bb.base.empty() ? json(nullptr) : json(bb.base)},
                  {"from_scratch", cfg.from_scratch},
                  {"pooling", pooling},
                  {"labels", labels},
                  {"train_examples", train.ids.size()},
                  {"dev_examples", dev.ids.size()},
                  {"epochs", cfg.epochs},
                  {"steps", step},
                  {"seconds_per_epoch", epoch_seconds},
                  {"train_seconds", train_seconds},
                  {"wall_seconds", wall},
                  {"threads", get_num_threads()},
                  {"recipe", json::parse(cfg.to_json())}};
  io::write_file_atomic((fs::path(out_dir) / "summary.json").string(), summary.dump(2) + "\n");
  say(last.report.to_table());
  say("saved " + (fs::path(out_dir) / "model").string() + " (" + std::to_string(ckpt_bytes) + " bytes); summary: " +
      (fs::path(out_dir) / "summary.json").string());
  FinetuneResult r;
  r.dev_accuracy = last.report.accuracy, r.dev_macro_f1 = last.report.macro.fscore, r.trainable_parameters = trainable;
  r.summary_json = summary.dump(2);
  return r;
}

}  // namespace tessera::train
