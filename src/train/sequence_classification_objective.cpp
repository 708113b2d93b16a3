// SequenceClassificationObjective (train/sequence_classification_objective.h).
#include "train/sequence_classification_objective.h"

#include "tessera/dist/world.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/autograd/grad_mode.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/ops/loss.h"
#include "tessera/ops/reduce.h"
#include "train/module_generators.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace {

// The batch order's stream, apart from the head's and the adapters' (both drawn from the seed itself).
uint64_t order_seed(uint64_t seed) { return seed * 0x9E3779B97F4A7C15ull + 1; }

int64_t folder_bytes(const std::string& dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) bytes += static_cast<int64_t>(e.file_size());
  return bytes;
}

json report_or_null(const std::optional<metrics::ClassificationReport>& r,
                    double (*field)(const metrics::ClassificationReport&)) {
  return r ? json(field(*r)) : json(nullptr);
}

}  // namespace

SequenceClassificationObjective::SequenceClassificationObjective(SequenceClassificationSetup setup)
    : s_(std::move(setup)), order_gen_(order_seed(s_.config.seed)) {
  for (const auto& [name, p] : s_.model->named_parameters()) {
    total_ += p.numel();
    if (p.requires_grad()) trainable_ += p.numel();
  }
  s_.model->train();
}

int64_t SequenceClassificationObjective::steps_per_epoch() const {
  const int64_t n = static_cast<int64_t>(s_.train.ids.size()), b = s_.config.batch_size;
  return (n + b - 1) / b;
}

std::string SequenceClassificationObjective::model_dir() const { return (fs::path(s_.out_dir) / "model").string(); }

detail::ClassifierMeta SequenceClassificationObjective::meta() const {
  const FinetuneConfig& c = s_.config;
  detail::ClassifierMeta m;
  m.backbone = &s_.backbone, m.labels = s_.labels, m.max_len = c.max_len, m.mode = c.mode;
  m.pooling = s_.pooling, m.head_dropout = c.head_dropout, m.lora = s_.lora, m.lora_layers = s_.lora_layers;
  m.format = c.format, m.text_column = c.text_column, m.label_column = c.label_column;
  m.recipe = json::parse(c.to_json());
  return m;
}

void SequenceClassificationObjective::start_epoch() {
  if (epoch_drawn_) ++epoch_;
  epoch_start_seed_ = order_gen_.seed(), epoch_start_offset_ = order_gen_.offset();
  batches_ = bucketed_batches(s_.train.ids, s_.config.batch_size, order_gen_);
  batch_ = 0;
  epoch_drawn_ = true;
  epoch_time_.restart();
}

MicroBatchLoss SequenceClassificationObjective::next_loss() {
  if (!epoch_drawn_ || batch_ == batches_.size()) start_epoch();
  const std::vector<size_t>& global = batches_[batch_++];
  // Data parallel: every rank drew the same epoch order; each keeps its rows.
  const dist::Range r = dist::shard(static_cast<int64_t>(global.size()));
  if (r.size() == 0) return {Tensor(), 0, 0, 0.0};
  const std::vector<size_t> b(global.begin() + r.begin, global.begin() + r.end);
  const double share = static_cast<double>(r.size()) / static_cast<double>(global.size());
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int64_t> y;
  seqs.reserve(b.size()), y.reserve(b.size());
  int64_t tokens = 0;
  for (size_t i : b) {
    seqs.push_back(s_.train.ids[i]), y.push_back(s_.train.y[i]);
    tokens += static_cast<int64_t>(s_.train.ids[i].size());
  }
  auto [x, lengths] = models::pad_batch(seqs, s_.pad_id);
  Tensor loss = cross_entropy(s_.model->forward(x, lengths), from_vector<int64_t>(y, {static_cast<int64_t>(y.size())}));
  return {loss, static_cast<int64_t>(b.size()), tokens, share};
}

// Eval mode, no gradients, batches sorted by length (padding is masked, so
// the order changes nothing but speed).
metrics::ClassificationReport SequenceClassificationObjective::evaluate_dev() {
  const EncodedExamples& dev = s_.dev;
  models::SequenceClassifier& model = *s_.model;
  const int64_t batch_size = s_.config.eval_batch_size;
  model.eval();
  std::vector<int64_t> pred(dev.ids.size());
  double loss_sum = 0;
  {
    NoGradGuard no_grad;
    std::vector<size_t> order(dev.ids.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return dev.ids[a].size() < dev.ids[b].size(); });
    for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
      const size_t e = std::min(order.size(), s + static_cast<size_t>(batch_size));
      std::vector<std::vector<int32_t>> batch;
      std::vector<int64_t> y;
      for (size_t k = s; k < e; ++k) batch.push_back(dev.ids[order[k]]), y.push_back(dev.y[order[k]]);
      auto [x, lengths] = models::pad_batch(batch, s_.pad_id);
      Tensor logits = model.forward(x, lengths);
      Tensor target = from_vector<int64_t>(y, {static_cast<int64_t>(y.size())});
      loss_sum += cross_entropy(logits, target).item() * static_cast<double>(y.size());
      Tensor am = argmax(logits, 1).contiguous();
      for (size_t k = s; k < e; ++k) pred[order[k]] = am.data<int64_t>()[k - s];
    }
  }
  model.train();
  metrics::ReportOptions ro;
  ro.class_names = s_.labels;
  for (size_t i = 0; i < s_.labels.size(); ++i) ro.scoring.labels.push_back(static_cast<int64_t>(i));
  auto report = metrics::classification_report(dev.y, pred, static_cast<int64_t>(s_.labels.size()), ro);
  report.loss = loss_sum / static_cast<double>(std::max<size_t>(1, dev.ids.size()));
  return report;
}

EvalResult SequenceClassificationObjective::evaluate() {
  // Evaluations come at epoch ends: the epoch's training time stops here.
  epoch_seconds_.push_back(epoch_time_.seconds());
  last_ = evaluate_dev();
  return {last_->to_table(), last_->to_json(), last_->scalars()};
}

bool SequenceClassificationObjective::report_step(const StepStats& s, bool train_line_due, const EvalResult* eval,
                                                  RunLog& log) {
  if (train_line_due) {
    log.line(json({{"step", s.step}, {"epoch", s.epoch}, {"loss", s.window_loss}, {"lr", s.lr_after},
                   {"examples_per_second", s.examples_per_second}})
                 .dump());
  }
  if (eval) {
    const double seconds = epoch_seconds_.back(), loss = last_->loss.value_or(0.0);
    log.line(json({{"epoch", s.epoch + 1}, {"step", s.step}, {"epoch_seconds", seconds}, {"dev_loss", loss},
                   {"dev_accuracy", last_->accuracy}, {"dev_macro_f1", last_->macro.fscore}})
                 .dump());
    char line[200];
    std::snprintf(line, sizeof line, "epoch %lld: dev accuracy %.4f  macro F1 %.4f  loss %.4f  (%.1f s)",
                  static_cast<long long>(s.epoch + 1), last_->accuracy, last_->macro.fscore, loss, seconds);
    log.message(line);
  }
  return train_line_due;
}

void SequenceClassificationObjective::announce(RunLog& log) {
  const detail::Backbone& bb = s_.backbone;
  log.message("finetune: " + bb.kind + " backbone from " + (bb.base.empty() ? std::string("scratch") : bb.base) +
              ", mode " + s_.config.mode + ", pooling " + s_.pooling + ", " + std::to_string(s_.labels.size()) +
              " labels, " + std::to_string(s_.train.ids.size()) + " train / " + std::to_string(s_.dev.ids.size()) +
              " dev examples, " + std::to_string(trainable_) + " of " + std::to_string(total_) +
              " parameters trainable");
}

void SequenceClassificationObjective::on_new_best(int64_t /*step*/, const EvalResult& /*eval*/) {
  best_ = last_;
  best_epoch_ = epoch_ + 1;
  checkpoint_bytes_ = detail::save_classifier(model_dir(), *s_.model, meta());
}

void SequenceClassificationObjective::finish(const RunSummary& run, RunLog& log) {
  // End as the best epoch's classifier: model/ holds its trained tensors
  // (the rest of the model never changes in frozen and lora modes).
  if (run.best_step >= 0 && run.best_step != run.last.step) {
    auto w = io::load_safetensors((fs::path(model_dir()) / "classifier.safetensors").string());
    s_.model->load_state_dict(w.tensors, /*strict=*/false);
    if (!best_) best_ = evaluate_dev();  // a resumed run: the best epoch was scored before the resume
  }
  if (!best_) best_ = last_;
  checkpoint_bytes_ = folder_bytes(model_dir());
  if (s_.config.merge) {
    nn::merge_all_lora(*s_.model);
    detail::ClassifierMeta m = meta();
    m.mode = "full", m.lora_layers.clear();
    merged_bytes_ = detail::save_classifier((fs::path(s_.out_dir) / "merged").string(), *s_.model, m);
  }
  io::write_file_atomic((fs::path(s_.out_dir) / "dev_report.json").string(), best_->to_json() + "\n");
  log.message(best_->to_table());
  log.message("saved " + model_dir() + " (" + std::to_string(checkpoint_bytes_) + " bytes, epoch " +
              std::to_string(best_epoch_) + " of " + std::to_string(s_.config.epochs) + ", best dev " +
              s_.config.best_metric + "); summary: " + (fs::path(s_.out_dir) / "summary.json").string());
}

std::string SequenceClassificationObjective::summary_json(const RunSummary& run) const {
  const auto& best = best_ ? best_ : last_;
  const FinetuneConfig& c = s_.config;
  const detail::Backbone& bb = s_.backbone;
  double train_seconds = 0;
  for (double s : epoch_seconds_) train_seconds += s;
  json summary = {{"dev_accuracy", report_or_null(best, [](const metrics::ClassificationReport& r) { return r.accuracy; })},
                  {"dev_macro_f1", report_or_null(best, [](const metrics::ClassificationReport& r) { return r.macro.fscore; })},
                  {"dev_micro_f1", report_or_null(best, [](const metrics::ClassificationReport& r) { return r.micro.fscore; })},
                  {"dev_weighted_f1", report_or_null(best, [](const metrics::ClassificationReport& r) { return r.weighted.fscore; })},
                  {"dev_loss", report_or_null(best, [](const metrics::ClassificationReport& r) { return r.loss.value_or(0.0); })},
                  {"best_epoch", best_epoch_},
                  {"best_metric", c.best_metric},
                  {"trainable_parameters", trainable_},
                  {"total_parameters", total_},
                  {"checkpoint_bytes", checkpoint_bytes_},
                  {"merged_checkpoint_bytes", c.merge ? json(merged_bytes_) : json(nullptr)},
                  {"mode", c.mode},
                  {"backbone", bb.kind},
                  {"base", bb.base.empty() ? json(nullptr) : json(bb.base)},
                  {"from_scratch", c.from_scratch},
                  {"pooling", s_.pooling},
                  {"labels", s_.labels},
                  {"train_examples", s_.train.ids.size()},
                  {"dev_examples", s_.dev.ids.size()},
                  {"epochs", c.epochs},
                  {"seconds_per_epoch", epoch_seconds_},
                  {"train_seconds", train_seconds},
                  {"recipe", json::parse(c.to_json())}};
  (void)run;
  return summary.dump();
}

void SequenceClassificationObjective::save_files(const std::string& dir, int64_t /*step*/) {
  // The step folder is a classifier folder like model/ (eval and --base read it as one).
  detail::save_classifier(dir, *s_.model, meta());
}

std::string SequenceClassificationObjective::state_json() {
  json st;
  st["batch_order"] = {{"epoch", epoch_}, {"batch", batch_}, {"rng", {epoch_start_seed_, epoch_start_offset_}}};
  st["epoch_seconds"] = epoch_seconds_;
  st["best_epoch"] = best_epoch_;
  st["rng"]["modules"] = save_module_generators(*s_.model);
  return st.dump();
}

void SequenceClassificationObjective::load(const std::string& dir, const std::string& config_text,
                                           const std::string& state_text) {
  const json c = json::parse(config_text);
  const std::string mode = s_.config.mode;
  TSR_CHECK(c.value("task", std::string()) == "sequence_classification", Error, "--resume: checkpoint ", dir,
            " is not a fine-tuning checkpoint (task '", c.value("task", std::string("?")), "')");
  TSR_CHECK(c.value("mode", std::string()) == mode && c.value("labels", std::vector<std::string>{}) == s_.labels,
            Error, "--resume: checkpoint ", dir, " was trained with another mode or label set than this run (mode ",
            c.value("mode", std::string("?")), ", labels ", c.value("labels", json::array()).dump(), ")");
  // The trained tensors (which ones depends on the mode); the rest is the
  // base, rebuilt identically from the recipe.
  auto w = io::load_safetensors((fs::path(dir) / "classifier.safetensors").string());
  std::string missing;
  for (const auto& [name, t] : s_.model->state_dict())
    if (detail::stored_in_checkpoint(name, mode) && !w.tensors.count(name)) missing += " " + name;
  TSR_CHECK(missing.empty(), Error, "--resume: ", dir, "/classifier.safetensors lacks", missing);
  s_.model->load_state_dict(w.tensors, /*strict=*/false);

  const json st = json::parse(state_text);
  const json& order = st.at("batch_order");
  order_gen_.set_state(order.at("rng").at(0), order.at("rng").at(1));
  epoch_ = order.at("epoch");
  epoch_drawn_ = false;
  start_epoch();  // the same order as before: drawn from the same state
  epoch_ = order.at("epoch");
  batch_ = order.at("batch");
  TSR_CHECK(batch_ <= batches_.size(), Error, "--resume: ", dir, " is past the end of epoch ", epoch_ + 1);
  epoch_seconds_ = st.value("epoch_seconds", std::vector<double>{});
  best_epoch_ = st.value("best_epoch", int64_t{0});
  load_module_generators(*s_.model, st.at("rng").at("modules"), dir);
}

}  // namespace tessera::train
