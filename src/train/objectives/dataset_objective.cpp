// DatasetObjective (train/objectives/dataset_objective.h): `tessera train`'s
// batching, evaluation, reports and checkpoint files.
#include "train/objectives/dataset_objective.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/checkpoint/folders.h"
#include "tessera/core/random.h"
#include "tessera/dist/world.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/factory.h"
#include "train/module_generators.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace {

json scalars_json(const std::vector<std::pair<std::string, double>>& s, const std::string& prefix) {
  json j = json::object();
  for (const auto& [k, v] : s) j[prefix + k] = std::isfinite(v) ? json(v) : json(nullptr);
  return j;
}

}  // namespace

DatasetObjective::DatasetObjective(const Recipe& recipe, TrainData data, std::string out_dir, int64_t num_outputs)
    : recipe_(recipe), data_(std::move(data)), out_(std::move(out_dir)), num_outputs_(num_outputs) {
  example_shape_ = data_.train->example_shape();
  // Same seed -> same initial weights and dropout streams, in a fresh run and a resumed one.
  manual_seed(recipe_.seed);
  model_ = models::build_model(recipe_.model.dump(), example_shape_, num_outputs_);
  model_->train();
  data::DataLoaderOptions lo;
  lo.batch_size = recipe_.batch_size;
  lo.shuffle = true;
  lo.drop_last = false;
  lo.seed = recipe_.seed;
  loader_ = std::make_unique<data::DataLoader>(data_.train, lo);
  TSR_CHECK(loader_->batches_per_epoch() > 0, Error, "trainer: the training set gives no batches");
}

MicroBatchLoss DatasetObjective::next_loss() {
  data::Batch b;
  while (!loader_->next(b)) {
  }  // an epoch ended; the loader moved to the next one
  // Data parallel: every rank drew the same global batch (the same order
  // and augmentation); each keeps its rows.
  const int64_t n = b.inputs.size(0);
  const dist::Range r = dist::shard(n);
  if (r.size() == n) return {loss(model_->forward(b.inputs), b.targets), n, 0};
  if (r.size() == 0) return {Tensor(), 0, 0, 0.0};
  Tensor x = b.inputs.narrow(0, r.begin, r.size()).contiguous(), t = b.targets.narrow(0, r.begin, r.size()).contiguous();
  return {loss(model_->forward(x), t), r.size(), 0, static_cast<double>(r.size()) / static_cast<double>(n)};
}

EvalResult DatasetObjective::evaluate() {
  return train::evaluate(*model_, *data_.validation, classification(), recipe_.eval_batch_size, data_.class_names);
}

bool DatasetObjective::report_step(const StepStats& s, bool train_line_due, const EvalResult* eval, RunLog& log) {
  if (train_line_due) {
    log.line(json({{"type", "train"}, {"step", s.step}, {"epoch", s.epoch}, {"loss", s.loss}, {"lr", s.lr_after},
                   {"samples_per_second", s.examples_per_second}, {"elapsed_seconds", s.elapsed_seconds}})
                 .dump());
  }
  if (eval) {
    json line = scalars_json(eval->scalars, "");
    line["type"] = "eval";
    line["split"] = "validation";
    line["step"] = s.step;
    line["epoch"] = s.epoch;
    log.line(line.dump());
    std::string summary = "eval step " + std::to_string(s.step) + ":";
    for (const auto& [k, v] : eval->scalars) {
      if (k == "accuracy" || k == "loss" || k == "macro_f1" || k == "mse" || k == "r2") {
        char buf[64];
        std::snprintf(buf, sizeof buf, " %s %.4f", k.c_str(), v);
        summary += buf;
      }
    }
    log.message(summary);
  }
  return train_line_due;
}

void DatasetObjective::finish(const RunSummary& run, RunLog& log) {
  // Test with the best weights when early stopping chose them; summary.json
  // records which step that was so `tessera eval RUN_DIR` loads the same weights.
  const int64_t step = run.last.step;
  tested_step_ = step;
  if (run.best_step >= 0 && run.best_step != step && fs::exists(checkpoint::step_dir(out_, run.best_step))) {
    auto w = io::load_safetensors((fs::path(checkpoint::step_dir(out_, run.best_step)) / "model.safetensors").string());
    model_->load_state_dict(w.tensors);
    tested_step_ = run.best_step;
  }
  auto eval_set = data_.test ? data_.test : data_.validation;
  if (!eval_set) return;
  const std::string split = data_.test ? "test" : "validation";
  auto ev = train::evaluate(*model_, *eval_set, classification(), recipe_.eval_batch_size, data_.class_names);
  for (const auto& [k, v] : ev.scalars) final_metrics_.emplace_back(split + "_" + k, v);
  io::write_file_atomic((fs::path(out_) / (split + "_report.json")).string(), ev.json + "\n");
  json line = scalars_json(ev.scalars, "");
  line["type"] = "eval";
  line["split"] = split;
  line["step"] = step;
  log.line(line.dump());
  log.message("\n" + split + " metrics (step " + std::to_string(step) + "):\n" + ev.table);
}

std::string DatasetObjective::summary_json(const RunSummary& run) const {
  json s = scalars_json(final_metrics_, "");
  s["epochs_completed"] =
      static_cast<double>(run.last.examples_seen) / static_cast<double>(data_.train->size());
  s["samples_seen"] = run.last.examples_seen;
  s["samples_per_second"] = run.last.examples_per_second;
  s["num_parameters"] = model_->num_parameters();
  if (tested_step_ >= 0) s["tested_checkpoint_step"] = tested_step_;
  s["config"] = recipe_.raw;
  return s.dump();
}

void DatasetObjective::save_files(const std::string& dir, int64_t step) {
  const fs::path d(dir);
  io::Metadata meta{{"format", "pt"}, {"step", std::to_string(step)}};
  io::save_safetensors((d / "model.safetensors").string(), model_->state_dict(), meta);
  json c;
  c["format_version"] = checkpoint::kFormatVersion;
  c["step"] = step;
  c["task"] = recipe_.task;
  c["input_shape"] = example_shape_;
  c["num_outputs"] = num_outputs_;
  c["class_names"] = data_.class_names;
  c["data_state"] = json::parse(data_.data_state_json);
  c["recipe"] = recipe_.raw;
  io::write_file_atomic((d / "config.json").string(), c.dump(2) + "\n");
}

std::string DatasetObjective::state_json() {
  const auto pos = loader_->position();
  json st;
  st["loader"] = {{"epoch", pos.epoch}, {"batch", pos.batch}};
  st["rng"]["modules"] = save_module_generators(*model_);
  return st.dump();
}

void DatasetObjective::load(const std::string& dir, const std::string& /*config_json*/, const std::string& state_json) {
  auto weights = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
  model_->load_state_dict(weights.tensors);
  const json st = json::parse(state_json);
  loader_->seek({st.at("loader").at("epoch"), st.at("loader").at("batch")});
  const json& rng = st.at("rng");
  load_module_generators(*model_, rng.contains("modules") ? rng.at("modules") : json::object(), dir);
}

}  // namespace tessera::train
