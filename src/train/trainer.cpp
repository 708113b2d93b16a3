// The Trainer: builds model, optimizer, schedule and loader from a recipe,
// runs the loop, evaluates, checkpoints and resumes. Resume exactness rests on
// restoring every piece of state that influences the next update: weights,
// optimizer moments, schedule counters, every RNG stream (default generator,
// each Dropout's and attention's) and the loader's (epoch, batch) position.
#include "tessera/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/parallel.h"
#include "tessera/core/random.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/factory.h"
#include "tessera/nn/attention.h"
#include "tessera/nn/regularization.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/loss.h"
#include "tessera/optim/adam.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/sgd.h"
#include "tessera/checkpoint/folders.h"
#include "train/progress.h"
#include "train/recipe.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Every generator a model owns, by module path, in a stable order.
std::vector<std::pair<std::string, Generator*>> model_generators(nn::Module& m) {
  std::vector<std::pair<std::string, Generator*>> out;
  for (auto& [name, mod] : m.named_modules()) {
    if (auto* d = dynamic_cast<nn::Dropout*>(mod)) out.emplace_back(name, &d->generator());
    else if (auto* a = dynamic_cast<nn::MultiheadAttention*>(mod)) out.emplace_back(name, &a->generator());
  }
  return out;
}

bool lower_is_better(const std::string& metric) {
  return metric == "loss" || metric == "mse" || metric == "rmse" || metric == "mae";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  TSR_CHECK(in.good(), Error, "cannot read ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json scalars_json(const std::vector<std::pair<std::string, double>>& s, const std::string& prefix) {
  json j = json::object();
  for (const auto& [k, v] : s) j[prefix + k] = std::isfinite(v) ? json(v) : json(nullptr);
  return j;
}

}  // namespace

struct Trainer::Impl {
  Recipe r;
  TrainData data;
  std::string out;
  TrainerOptions opts;
  bool classification = true;
  Shape example_shape;
  int64_t num_outputs = 0;

  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<Progress> progress;
  std::ofstream metrics_file;

  int64_t total_steps = 0, eval_every = 0;
  // Counters that a checkpoint stores.
  int64_t step = 0, samples_seen = 0, bad_evals = 0, best_step = -1, tested_step = -1;
  double best_metric = 0, wall_before = 0;
  bool has_best = false;
  std::optional<int64_t> last_checkpoint;

  void setup() {
    classification = r.task == "classification";
    TSR_CHECK(data.train && data.train->size() > 0, Error, "trainer: the training set is empty");
    example_shape = data.train->example_shape();
    if (classification) {
      num_outputs = data.train->num_classes();
      TSR_CHECK(num_outputs > 1, Error, "trainer: classification needs at least 2 classes, the data reports ",
                num_outputs);
    } else {
      Tensor t = data.train->get_batch({0}).targets;  // (1) or (1, T)
      num_outputs = t.dim() > 1 ? t.size(1) : 1;
    }
    if (r.threads > 0) set_num_threads(r.threads);
    // Same seed -> same initial weights and dropout streams, in a fresh run and a resumed one.
    manual_seed(r.seed);
    model = models::build_model(r.model.dump(), example_shape, num_outputs);
    model->train();

    if (r.optimizer == "sgd") {
      optim::SGDOptions o;
      o.lr = r.lr, o.momentum = r.momentum, o.weight_decay = r.weight_decay, o.nesterov = r.nesterov;
      optimizer = std::make_unique<optim::SGD>(model->parameters(), o);
    } else if (r.optimizer == "adam") {
      optim::AdamOptions o;
      o.lr = r.lr, o.beta1 = r.beta1, o.beta2 = r.beta2, o.eps = r.eps, o.weight_decay = r.weight_decay;
      optimizer = std::make_unique<optim::Adam>(model->parameters(), o);
    } else {
      optim::AdamWOptions o;
      o.lr = r.lr, o.beta1 = r.beta1, o.beta2 = r.beta2, o.eps = r.eps, o.weight_decay = r.weight_decay;
      // Biases and norm weights are not decayed (the usual AdamW split).
      optimizer = std::make_unique<optim::AdamW>(optim::decay_groups(*model, r.weight_decay), o);
    }

    data::DataLoaderOptions lo;
    lo.batch_size = r.batch_size;
    lo.shuffle = true;
    lo.drop_last = false;
    lo.seed = r.seed;
    loader = std::make_unique<data::DataLoader>(data.train, lo);
    int64_t bpe = loader->batches_per_epoch();
    TSR_CHECK(bpe > 0, Error, "trainer: the training set gives no batches");
    int64_t steps_per_epoch = std::max<int64_t>(bpe / r.grad_accum, 1);
    total_steps = r.steps > 0 ? r.steps : r.epochs * steps_per_epoch;
    eval_every = r.eval_every > 0 ? r.eval_every : steps_per_epoch;

    // A short run (--steps) keeps working with a recipe written for a long one.
    int64_t w = std::min(r.warmup_steps, total_steps);
    if (r.schedule == "cosine") {
      scheduler = std::make_unique<optim::WarmupCosineLR>(*optimizer, w, total_steps, r.min_lr);
    } else if (r.schedule == "linear") {
      scheduler = std::make_unique<optim::WarmupLinearLR>(*optimizer, w, total_steps, r.min_lr);
    } else if (r.schedule == "step") {
      scheduler = std::make_unique<optim::StepLR>(*optimizer, r.step_size, r.gamma);
    } else {
      scheduler = std::make_unique<optim::LambdaLR>(*optimizer, [w](int64_t s) {
        return w > 0 && s < w ? static_cast<double>(s) / static_cast<double>(w) : 1.0;
      });
    }
    progress = std::make_unique<Progress>(opts.quiet, total_steps);
  }

  // ---- metrics log ----
  void open_metrics(bool keep_until_step) {
    std::string path = (fs::path(out) / "metrics.jsonl").string();
    if (keep_until_step && fs::exists(path)) {
      // Lines logged after the checkpoint we resume from describe steps that
      // will run again; drop them so the log reads as one run.
      std::ifstream in(path);
      std::string line, kept;
      while (std::getline(in, line)) {
        try {
          json j = json::parse(line);
          if (j.value("step", int64_t{0}) <= step) kept += line + "\n";
        } catch (const json::exception&) {
          // A line torn by a kill: drop it.
        }
      }
      in.close();
      io::write_file_atomic(path, kept);
      metrics_file.open(path, std::ios::app);
    } else {
      metrics_file.open(path, std::ios::trunc);
    }
    TSR_CHECK(metrics_file.good(), Error, "trainer: cannot write ", path);
  }
  void log_json(const json& j) {
    metrics_file << j.dump() << "\n";
    metrics_file.flush();
  }

  // ---- checkpoints ----
  json config_json() const {
    json c;
    c["format_version"] = checkpoint::kFormatVersion;
    c["step"] = step;
    c["task"] = r.task;
    c["input_shape"] = example_shape;
    c["num_outputs"] = num_outputs;
    c["class_names"] = data.class_names;
    c["data_state"] = json::parse(data.data_state_json);
    c["recipe"] = r.raw;
    return c;
  }

  void save_checkpoint(double wall_now) {
    std::string tmp = checkpoint::begin(out, step);
    io::Metadata meta{{"format", "pt"}, {"step", std::to_string(step)}};
    io::save_safetensors((fs::path(tmp) / "model.safetensors").string(), model->state_dict(), meta);
    io::write_file_atomic((fs::path(tmp) / "config.json").string(), config_json().dump(2) + "\n");
    optimizer->save((fs::path(tmp) / "optimizer.bin").string());
    scheduler->save((fs::path(tmp) / "scheduler.bin").string());
    json st;
    st["step"] = step;
    auto pos = loader->position();
    st["loader"] = {{"epoch", pos.epoch}, {"batch", pos.batch}};
    st["samples_seen"] = samples_seen;
    st["bad_evals"] = bad_evals;
    st["best_step"] = best_step;
    st["best_metric"] = has_best ? json(best_metric) : json(nullptr);
    st["wall_seconds"] = wall_now;
    auto& dg = default_generator();
    st["rng"]["default"] = {dg.seed(), dg.offset()};
    for (auto& [name, g] : model_generators(*model)) st["rng"]["modules"][name] = {g->seed(), g->offset()};
    io::write_file_atomic((fs::path(tmp) / "trainer_state.json").string(), st.dump(2) + "\n");
    checkpoint::commit(tmp, out, step);
    last_checkpoint = step;
    checkpoint::prune(out, r.keep_last, best_step >= 0 ? std::optional<int64_t>(best_step) : std::nullopt);
  }

  void load_checkpoint(int64_t s) {
    std::string dir = checkpoint::step_dir(out, s);
    checkpoint::read_config(dir);  // checks the format version
    auto weights = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
    model->load_state_dict(weights.tensors);
    optimizer->load((fs::path(dir) / "optimizer.bin").string());
    scheduler->load((fs::path(dir) / "scheduler.bin").string());
    json st;
    try {
      st = json::parse(read_text((fs::path(dir) / "trainer_state.json").string()));
      step = st.at("step");
      samples_seen = st.at("samples_seen");
      bad_evals = st.at("bad_evals");
      best_step = st.at("best_step");
      has_best = !st.at("best_metric").is_null();
      if (has_best) best_metric = st.at("best_metric");
      wall_before = st.at("wall_seconds");
      loader->seek({st.at("loader").at("epoch"), st.at("loader").at("batch")});
      auto d = st.at("rng").at("default");
      default_generator().set_state(d.at(0), d.at(1));
      const json& mods = st.at("rng").contains("modules") ? st.at("rng").at("modules") : json::object();
      for (auto& [name, g] : model_generators(*model)) {
        // Checkpoints written before named_modules() dropped its trailing dot say "3." for "3".
        const std::string key = mods.contains(name) || name.empty() ? name : name + ".";
        TSR_CHECK(mods.contains(key), Error, "checkpoint ", dir, ": no RNG state for module '", name, "'");
        g->set_state(mods.at(key).at(0), mods.at(key).at(1));
      }
    } catch (const json::exception& e) {
      throw Error("checkpoint " + dir + ": trainer_state.json is malformed: " + e.what());
    }
    last_checkpoint = s;
  }

  // ---- one optimizer step over grad_accum micro-batches; returns the mean loss ----
  double train_step(int64_t& batch_samples) {
    optimizer->zero_grad();
    double loss_sum = 0;
    batch_samples = 0;
    for (int64_t a = 0; a < r.grad_accum; ++a) {
      data::Batch b;
      while (!loader->next(b)) {
      }  // an epoch ended; the loader moved to the next one
      Tensor y = model->forward(b.inputs);
      Tensor loss;
      if (classification) {
        loss = cross_entropy(y, b.targets);
      } else {
        Tensor t = b.targets.to(y.dtype());
        loss = mse_loss(y.reshape(t.shape()), t);
      }
      double v = loss.item();
      if (!std::isfinite(v)) return v;  // checked by the caller before any update
      if (r.grad_accum > 1) loss = mul(loss, 1.0 / static_cast<double>(r.grad_accum));
      loss.backward();
      loss_sum += v;
      batch_samples += b.inputs.size(0);
    }
    if (r.clip_grad_norm > 0) nn::clip_grad_norm_(model->parameters(), r.clip_grad_norm);
    optimizer->step();
    scheduler->step();
    return loss_sum / static_cast<double>(r.grad_accum);
  }

  TrainResult run() {
    std::error_code ec;
    fs::create_directories(out, ec);
    TSR_CHECK(!ec, Error, "trainer: cannot create the output folder ", out, ": ", ec.message());
    bool resumed = false;
    if (opts.resume) {
      if (auto s = checkpoint::latest_step(out)) {
        load_checkpoint(*s);
        resumed = true;
        progress->message("resuming from " + checkpoint::step_dir(out, *s));
      } else {
        progress->message("no checkpoint in " + checkpoint::root(out) + "; starting from scratch");
      }
    }
    open_metrics(resumed);
    auto t0 = Clock::now();
    double train_seconds = 0;
    int64_t session_samples = 0;
    std::string stop_reason = "completed";
    double last_loss = 0;

    while (step < total_steps) {
      auto ts = Clock::now();
      int64_t bs = 0;
      double loss = train_step(bs);
      train_seconds += seconds_since(ts);
      if (!std::isfinite(loss)) {
        std::string where = last_checkpoint ? "the last good checkpoint is " + checkpoint::step_dir(out, *last_checkpoint)
                                            : std::string("no checkpoint was written yet");
        std::string msg = "step " + std::to_string(step + 1) + " (epoch " +
                          std::to_string(loader->position().epoch + 1) + "): loss is " +
                          (std::isnan(loss) ? "NaN" : "infinite") + "; stopping before the update; " + where;
        log_json({{"type", "error"}, {"step", step + 1}, {"message", msg}});
        progress->finish();
        write_summary("nonfinite_loss", {}, wall_before + seconds_since(t0), train_seconds, session_samples);
        throw NonFiniteLossError(msg);
      }
      ++step;
      samples_seen += bs;
      session_samples += bs;
      last_loss = loss;
      double sps = train_seconds > 0 ? static_cast<double>(session_samples) / train_seconds : 0.0;
      int64_t epoch = loader->position().epoch;
      bool log_now = step % r.log_every == 0 || step == total_steps;
      progress->update(step, epoch, loss, optimizer->lr(0), sps, log_now);
      if (log_now) {
        log_json({{"type", "train"}, {"step", step}, {"epoch", epoch}, {"loss", loss}, {"lr", optimizer->lr(0)},
                  {"samples_per_second", sps}, {"elapsed_seconds", wall_before + seconds_since(t0)}});
      }
      bool eval_now = data.validation && (step % eval_every == 0 || step == total_steps);
      bool stop_early = false;
      if (eval_now) {
        auto ev = evaluate(*model, *data.validation, classification, r.eval_batch_size, data.class_names);
        json line = scalars_json(ev.scalars, "");
        line["type"] = "eval";
        line["split"] = "validation";
        line["step"] = step;
        line["epoch"] = epoch;
        log_json(line);
        std::string summary = "eval step " + std::to_string(step) + ":";
        for (const auto& [k, v] : ev.scalars) {
          if (k == "accuracy" || k == "loss" || k == "macro_f1" || k == "mse" || k == "r2") {
            char buf[64];
            std::snprintf(buf, sizeof buf, " %s %.4f", k.c_str(), v);
            summary += buf;
          }
        }
        progress->message(summary);
        if (!r.early_metric.empty()) stop_early = update_early_stopping(ev.scalars);
      }
      bool ckpt_now = (r.checkpoint_every > 0 ? step % r.checkpoint_every == 0 : eval_now) || step == total_steps ||
                      step == opts.stop_after_steps || stop_early;
      if (ckpt_now) save_checkpoint(wall_before + seconds_since(t0));
      if (stop_early) {
        stop_reason = "early_stopping";
        progress->message("early stopping: '" + r.early_metric + "' has not improved for " +
                          std::to_string(bad_evals) + " evaluations (best at step " + std::to_string(best_step) + ")");
        break;
      }
      if (opts.stop_after_steps > 0 && step == opts.stop_after_steps && step < total_steps) {
        progress->finish();
        TrainResult res;
        res.steps = step;
        res.stop_reason = "interrupted";
        return res;
      }
    }
    progress->finish();
    (void)last_loss;

    // Test with the best weights when early stopping chose them; summary.json
    // records which step that was so `tessera eval RUN_DIR` loads the same weights.
    tested_step = step;
    if (!r.early_metric.empty() && best_step >= 0 && best_step != step && fs::exists(checkpoint::step_dir(out, best_step))) {
      auto w = io::load_safetensors((fs::path(checkpoint::step_dir(out, best_step)) / "model.safetensors").string());
      model->load_state_dict(w.tensors);
      tested_step = best_step;
    }
    std::vector<std::pair<std::string, double>> final_metrics;
    auto eval_set = data.test ? data.test : data.validation;
    std::string prefix = data.test ? "test_" : "validation_";
    if (eval_set) {
      auto ev = evaluate(*model, *eval_set, classification, r.eval_batch_size, data.class_names);
      for (const auto& [k, v] : ev.scalars) final_metrics.emplace_back(prefix + k, v);
      io::write_file_atomic((fs::path(out) / (prefix + "report.json")).string(), ev.json + "\n");
      json line = scalars_json(ev.scalars, "");
      line["type"] = "eval";
      line["split"] = data.test ? "test" : "validation";
      line["step"] = step;
      log_json(line);
      if (!opts.quiet) std::printf("\n%s metrics (step %lld):\n%s\n", data.test ? "test" : "validation",
                                   (long long)step, ev.table.c_str());
    }
    TrainResult res;
    res.steps = step;
    res.stop_reason = stop_reason;
    res.final_metrics = final_metrics;
    res.summary_json = write_summary(stop_reason, final_metrics, wall_before + seconds_since(t0), train_seconds,
                                     session_samples);
    return res;
  }

  bool update_early_stopping(const std::vector<std::pair<std::string, double>>& scalars) {
    const double* value = nullptr;
    std::string known;
    for (const auto& [k, v] : scalars) {
      if (k == r.early_metric) value = &v;
      known += (known.empty() ? "" : ", ") + k;
    }
    TSR_CHECK(value, Error, "config: early_stopping.metric '", r.early_metric,
              "' is not an evaluation metric (available: ", known, ")");
    bool minimize = r.early_mode.empty() ? lower_is_better(r.early_metric) : r.early_mode == "min";
    bool better = !has_best || (minimize ? *value < best_metric : *value > best_metric);
    if (better) {
      best_metric = *value;
      has_best = true;
      best_step = step;
      bad_evals = 0;
    } else {
      ++bad_evals;
    }
    return r.patience > 0 && bad_evals >= r.patience;
  }

  std::string write_summary(const std::string& reason, const std::vector<std::pair<std::string, double>>& final_metrics,
                            double wall, double train_seconds, int64_t session_samples) {
    json s = scalars_json(final_metrics, "");
    s["stop_reason"] = reason;
    s["steps"] = step;
    s["epochs_completed"] = static_cast<double>(samples_seen) / static_cast<double>(data.train->size());
    s["samples_seen"] = samples_seen;
    s["wall_seconds"] = wall;
    s["train_seconds"] = train_seconds;
    s["samples_per_second"] = train_seconds > 0 ? static_cast<double>(session_samples) / train_seconds : 0.0;
    s["threads"] = get_num_threads();
    s["num_parameters"] = model->num_parameters();
    if (has_best) s["best_validation_" + r.early_metric] = best_metric, s["best_step"] = best_step;
    if (last_checkpoint) s["last_checkpoint"] = checkpoint::step_dir(out, *last_checkpoint);
    if (tested_step >= 0) s["tested_checkpoint_step"] = tested_step;
    s["config"] = r.raw;
    std::string text = s.dump(2) + "\n";
    io::write_file_atomic((fs::path(out) / "summary.json").string(), text);
    return text;
  }
};

Trainer::Trainer(std::string config_json, TrainData data, std::string out_dir, TrainerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->r = parse_recipe(config_json);
  impl_->data = std::move(data);
  impl_->out = std::move(out_dir);
  impl_->opts = options;
  impl_->setup();
}

Trainer::~Trainer() = default;

TrainResult Trainer::run() { return impl_->run(); }

nn::Module& Trainer::model() { return *impl_->model; }

}  // namespace tessera::train
