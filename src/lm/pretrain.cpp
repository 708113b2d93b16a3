// The GPT pretraining loop (lm/pretrain.h): random-window batches from the
// train shards, AdamW with nanoGPT's decay groups, warmup + cosine, clipping,
// accumulation, periodic validation loss, atomic checkpoints and exact resume.
// Resume exactness rests on restoring everything that feeds the next update:
// weights, AdamW moments, schedule counters, the batch sampler's Philox state
// and the dropout stream.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lm/pretrain_progress.h"
#include "lm/pretrain_recipe.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/parallel.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/pretrain.h"
#include "tessera/nn/regularization.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/loss.h"
#include "tessera/optim/adam.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/text/shards.h"
#include "tessera/train/checkpoint.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::lm {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), Error, "cannot read ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The sampler's stream is derived from the seed but kept apart from the
// model's initializer and dropout streams.
constexpr uint64_t kSamplerSalt = 0xD1B54A32D192ED03ull;

}  // namespace

struct Pretrainer {
  PretrainRecipe r;
  std::string data_dir, out;
  PretrainOptions opts;
  text::TokenData data;
  models::GPTConfig cfg;
  std::shared_ptr<models::GPT> model;
  std::unique_ptr<optim::AdamW> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  Generator sampler;
  std::unique_ptr<LMProgress> progress;
  std::ofstream metrics;
  std::string tokenizer_bytes;
  int64_t T = 0, step = 0, tokens_seen = 0;
  double wall_before = 0, peak = 0, flops_per_token = 0;
  std::optional<int64_t> last_checkpoint;

  void setup() {
    if (r.threads > 0) set_num_threads(r.threads);
    data = text::open_token_data(data_dir, std::nullopt, opts.tokenizer_fingerprint);
    json m = r.model;
    if (!m.contains("vocab_size")) m["vocab_size"] = data.vocab_size;
    TSR_CHECK(m["vocab_size"].is_number_integer() && m["vocab_size"].get<int64_t>() >= data.vocab_size, Error,
              "recipe: model.vocab_size is ", m["vocab_size"].dump(), " but the shards in ", data_dir,
              " use a vocabulary of ", data.vocab_size, " tokens (leave it out to use the shards')");
    cfg = models::GPTConfig::from_json(m.dump());
    T = r.seq_len > 0 ? r.seq_len : cfg.block_size;
    TSR_CHECK(T <= cfg.block_size, Error, "recipe: train.seq_len ", T, " exceeds model.block_size ", cfg.block_size);
    TSR_CHECK(data.train.num_windows(T) > 0, Error, "pretrain: the train split of ", data_dir, " holds ",
              data.train.num_tokens(), " tokens, too few for one window of ", T + 1);
    if (!data.val.empty() && data.val.num_sequential_windows(T) == 0) data.val = text::TokenSplit();
    model = std::make_shared<models::GPT>(cfg, r.seed);
    model->train();
    optim::AdamWOptions o;
    o.lr = r.lr, o.beta1 = r.beta1, o.beta2 = r.beta2, o.eps = r.eps, o.weight_decay = r.weight_decay;
    // nanoGPT's split: decay on 2-D weights (embeddings too), none on biases and norm weights.
    optimizer = std::make_unique<optim::AdamW>(optim::decay_groups(*model, r.weight_decay), o);
    int64_t w = std::min(r.warmup_steps, r.steps);
    if (r.schedule == "cosine") {
      scheduler = std::make_unique<optim::WarmupCosineLR>(*optimizer, w, r.steps, r.min_lr);
    } else if (r.schedule == "linear") {
      scheduler = std::make_unique<optim::WarmupLinearLR>(*optimizer, w, r.steps, r.min_lr);
    } else {
      scheduler = std::make_unique<optim::LambdaLR>(
          *optimizer, [w](int64_t s) { return w > 0 && s < w ? static_cast<double>(s) / static_cast<double>(w) : 1.0; });
    }
    sampler = Generator(r.seed ^ kSamplerSalt);
    peak = r.peak_flops > 0 ? r.peak_flops : kDefaultPeakFlops;
    flops_per_token = model->flops_per_token(T);
    tokenizer_bytes = read_text(opts.tokenizer_file.empty() ? data.tokenizer_file : opts.tokenizer_file);
    progress = std::make_unique<LMProgress>(opts.quiet, r.steps);
  }

  // ---- checkpoints ----
  json config_json() const {
    json c;
    c["format_version"] = train::kCheckpointFormatVersion;
    c["step"] = step;
    c["task"] = "language_model";
    c["model"] = json::parse(cfg.to_json());
    c["recipe"] = r.raw;
    c["tokenizer"] = {{"file", "tokenizer.json"}, {"fingerprint", text::fingerprint_hex(data.fingerprint)}};
    c["data"] = {{"dir", data_dir}, {"meta", json::parse(data.meta_json)}};
    return c;
  }

  void save_checkpoint(double wall_now) {
    std::string tmp = train::begin_checkpoint(out, step);
    fs::path d(tmp);
    io::save_safetensors((d / "model.safetensors").string(), model->state_dict(),
                         {{"format", "pt"}, {"step", std::to_string(step)}});
    io::write_file_atomic((d / "config.json").string(), config_json().dump(2) + "\n");
    io::write_file_atomic((d / "tokenizer.json").string(), tokenizer_bytes);
    optimizer->save((d / "optimizer.bin").string());
    scheduler->save((d / "scheduler.bin").string());
    json st;
    st["step"] = step;
    st["tokens_seen"] = tokens_seen;
    st["wall_seconds"] = wall_now;
    st["rng"]["sampler"] = {sampler.seed(), sampler.offset()};
    st["rng"]["dropout"] = {model->dropout_generator().seed(), model->dropout_generator().offset()};
    st["rng"]["default"] = {default_generator().seed(), default_generator().offset()};
    io::write_file_atomic((d / "trainer_state.json").string(), st.dump(2) + "\n");
    train::commit_checkpoint(tmp, out, step);
    last_checkpoint = step;
    train::prune_checkpoints(out, r.keep_last, std::nullopt);
  }

  void load_checkpoint(int64_t s) {
    std::string dir = train::checkpoint_dir(out, s);
    json c;
    try {
      c = json::parse(train::read_checkpoint_config(dir));
    } catch (const json::exception& e) {
      throw Error("checkpoint " + dir + ": config.json is malformed: " + e.what());
    }
    TSR_CHECK(c.value("task", std::string()) == "language_model" && c.contains("model"), Error, "checkpoint ", dir,
              " is not a language-model checkpoint (task ", c.value("task", std::string("?")), ")");
    // The architecture must match the recipe's: list every field that differs.
    json mine = json::parse(cfg.to_json()), theirs = c["model"];
    std::string diff;
    for (auto it = mine.begin(); it != mine.end(); ++it) {
      if (!theirs.contains(it.key()) || theirs[it.key()] != it.value())
        diff += std::string(diff.empty() ? "" : "; ") + "model." + it.key() + " is " +
                (theirs.contains(it.key()) ? theirs[it.key()].dump() : "missing") + " there, " + it.value().dump() +
                " here";
    }
    TSR_CHECK(diff.empty(), Error, "--resume: checkpoint ", dir, " was trained with another GPT config than the recipe's: ",
              diff);
    std::string fp = c.contains("tokenizer") ? c["tokenizer"].value("fingerprint", std::string()) : std::string();
    TSR_CHECK(fp == text::fingerprint_hex(data.fingerprint), Error, "--resume: checkpoint ", dir,
              " was trained on shards of tokenizer ", fp, ", the data in ", data_dir, " uses ",
              text::fingerprint_hex(data.fingerprint));
    auto weights = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
    model->load_state_dict(weights.tensors);
    optimizer->load((fs::path(dir) / "optimizer.bin").string());
    scheduler->load((fs::path(dir) / "scheduler.bin").string());
    try {
      json st = json::parse(read_text((fs::path(dir) / "trainer_state.json").string()));
      step = st.at("step");
      tokens_seen = st.at("tokens_seen");
      wall_before = st.at("wall_seconds");
      const json& g = st.at("rng");
      sampler.set_state(g.at("sampler").at(0), g.at("sampler").at(1));
      model->dropout_generator().set_state(g.at("dropout").at(0), g.at("dropout").at(1));
      default_generator().set_state(g.at("default").at(0), g.at("default").at(1));
    } catch (const json::exception& e) {
      throw Error("checkpoint " + dir + ": trainer_state.json is malformed: " + e.what());
    }
    last_checkpoint = s;
  }

  // ---- metrics.jsonl ----
  void open_metrics(bool resumed) {
    std::string path = (fs::path(out) / "metrics.jsonl").string();
    if (resumed && fs::exists(path)) {
      // Lines after the checkpoint describe steps that run again: drop them.
      std::ifstream in(path);
      std::string line, kept;
      while (std::getline(in, line)) {
        try {
          if (json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
        } catch (const json::exception&) {
        }
      }
      in.close();
      io::write_file_atomic(path, kept);
      metrics.open(path, std::ios::app);
    } else {
      metrics.open(path, std::ios::trunc);
    }
    TSR_CHECK(metrics.good(), Error, "pretrain: cannot write ", path);
  }
  void log_json(const json& j) {
    metrics << j.dump() << "\n";
    metrics.flush();
  }

  // ---- steps ----
  double train_step() {
    optimizer->zero_grad();
    double sum = 0;
    for (int64_t a = 0; a < r.grad_accum; ++a) {
      text::TokenBatch b = data.train.sample(r.batch_size, T, sampler);
      Tensor logits = model->forward(b.x);  // (B, T, V)
      Tensor loss = cross_entropy(logits.reshape({r.batch_size * T, cfg.vocab_size}), b.y.reshape({r.batch_size * T}));
      double v = loss.item();
      if (!std::isfinite(v)) return v;  // the caller stops before any update
      if (r.grad_accum > 1) loss = mul(loss, 1.0 / static_cast<double>(r.grad_accum));
      loss.backward();
      sum += v;
    }
    if (r.clip_grad_norm > 0) nn::clip_grad_norm_(model->parameters(), r.clip_grad_norm);
    optimizer->step();
    scheduler->step();
    return sum / static_cast<double>(r.grad_accum);
  }

  double validation_loss() {
    model->eval();
    NoGradGuard no_grad;
    double sum = 0;
    for (int64_t i = 0; i < r.eval_batches; ++i) {
      text::TokenBatch b = data.val.sequential(i, r.batch_size, T);
      Tensor logits = model->forward(b.x);
      sum += cross_entropy(logits.reshape({r.batch_size * T, cfg.vocab_size}), b.y.reshape({r.batch_size * T})).item();
    }
    model->train();
    return sum / static_cast<double>(r.eval_batches);
  }

  PretrainResult run() {
    std::error_code ec;
    fs::create_directories(out, ec);
    TSR_CHECK(!ec, Error, "pretrain: cannot create the output folder ", out, ": ", ec.message());
    bool resumed = false;
    if (opts.resume) {
      if (auto s = train::latest_checkpoint(out)) {
        load_checkpoint(*s);
        resumed = true;
        progress->message("resuming from " + train::checkpoint_dir(out, *s));
      } else {
        progress->message("no checkpoint in " + train::checkpoint_root(out) + "; starting from scratch");
      }
    }
    if (data.val.empty()) progress->message("note: " + data_dir + " has no usable validation split; no val_loss");
    open_metrics(resumed);
    progress->message("GPT: " + std::to_string(model->count_parameters(false)) + " parameters, " +
                      std::to_string(r.batch_size * r.grad_accum * T) + " tokens per step, " +
                      std::to_string(data.train.num_tokens()) + " train tokens");
    auto t0 = Clock::now();
    double train_seconds = 0, window_sum = 0, last_window_loss = 0;
    int64_t window_n = 0, session_tokens = 0;
    std::optional<double> val_loss;
    const int64_t tokens_per_step = r.batch_size * r.grad_accum * T;
    while (step < r.steps) {
      auto ts = Clock::now();
      double lr = optimizer->lr(0);  // the lr this step uses
      double loss = train_step();
      train_seconds += seconds_since(ts);
      if (!std::isfinite(loss)) {
        std::string where = last_checkpoint ? "the last good checkpoint is " + train::checkpoint_dir(out, *last_checkpoint)
                                            : std::string("no checkpoint was written yet");
        std::string msg = "step " + std::to_string(step + 1) + ": loss is " + (std::isnan(loss) ? "NaN" : "infinite") +
                          "; stopped before the update; " + where;
        log_json({{"type", "error"}, {"step", step + 1}, {"message", msg}});
        progress->finish();
        write_summary("nonfinite_loss", last_window_loss, val_loss, wall_before + seconds_since(t0), train_seconds,
                      session_tokens);
        throw NonFiniteLossError(msg);
      }
      ++step;
      tokens_seen += tokens_per_step;
      session_tokens += tokens_per_step;
      window_sum += loss, ++window_n;
      double tps = train_seconds > 0 ? static_cast<double>(session_tokens) / train_seconds : 0.0;
      double mfu = flops_per_token * tps / peak;
      bool last = step == r.steps;
      bool log_now = step % r.log_every == 0 || last || step == 1;
      bool eval_now = !data.val.empty() && ((r.eval_every > 0 && step % r.eval_every == 0) || last);
      progress->update(step, loss, lr, tps, mfu, log_now);
      if (eval_now) {
        val_loss = validation_loss();
        char buf[96];
        std::snprintf(buf, sizeof buf, "step %lld: val loss %.4f", static_cast<long long>(step), *val_loss);
        progress->message(buf);
      }
      if (log_now || eval_now) {
        last_window_loss = window_sum / static_cast<double>(window_n);
        json line = {{"type", "train"}, {"step", step}, {"loss", last_window_loss}, {"lr", lr},
                     {"tokens_per_second", tps}, {"mfu", mfu}, {"tokens", tokens_seen},
                     {"elapsed_seconds", wall_before + seconds_since(t0)}};
        if (eval_now) line["val_loss"] = *val_loss;
        log_json(line);
        window_sum = 0, window_n = 0;
      }
      bool ckpt_now = (r.checkpoint_every > 0 ? step % r.checkpoint_every == 0 : eval_now) || last ||
                      step == opts.stop_after_steps;
      if (ckpt_now) save_checkpoint(wall_before + seconds_since(t0));
      if (opts.stop_after_steps > 0 && step == opts.stop_after_steps && !last) {
        progress->finish();
        PretrainResult res;
        res.steps = step;
        res.stop_reason = "interrupted";
        res.train_loss = last_window_loss;
        res.val_loss = val_loss;
        return res;
      }
    }
    progress->finish();
    PretrainResult res;
    res.steps = step;
    res.stop_reason = "completed";
    res.train_loss = last_window_loss;
    res.val_loss = val_loss;
    res.summary_json = write_summary("completed", last_window_loss, val_loss, wall_before + seconds_since(t0),
                                     train_seconds, session_tokens);
    return res;
  }

  std::string write_summary(const std::string& reason, double train_loss, std::optional<double> val_loss, double wall,
                            double train_seconds, int64_t session_tokens) {
    double tps = train_seconds > 0 ? static_cast<double>(session_tokens) / train_seconds : 0.0;
    json s;
    s["stop_reason"] = reason;
    s["val_loss"] = val_loss ? finite_or_null(*val_loss) : json(nullptr);
    s["train_loss"] = finite_or_null(train_loss);
    s["steps"] = step;
    s["tokens"] = tokens_seen;
    s["wall_seconds"] = wall;
    s["train_seconds"] = train_seconds;
    s["tokens_per_second"] = tps;
    s["flops_per_token"] = flops_per_token;
    s["peak_flops"] = peak;
    s["mfu"] = flops_per_token * tps / peak;
    s["threads"] = get_num_threads();
    s["num_parameters"] = model->count_parameters(false);
    s["num_parameters_non_embedding"] = model->count_parameters(true);
    s["seq_len"] = T;
    s["data"] = data_dir;
    if (last_checkpoint) s["last_checkpoint"] = train::checkpoint_dir(out, *last_checkpoint);
    s["model"] = json::parse(cfg.to_json());
    s["config"] = r.raw;
    std::string text = s.dump(2) + "\n";
    io::write_file_atomic((fs::path(out) / "summary.json").string(), text);
    return text;
  }
};

PretrainResult pretrain(const std::string& recipe_json, const std::string& data_dir, const std::string& out_dir,
                        const PretrainOptions& options) {
  Pretrainer p;
  p.r = parse_pretrain_recipe(recipe_json);
  p.data_dir = data_dir;
  p.out = out_dir;
  p.opts = options;
  p.setup();
  return p.run();
}

}  // namespace tessera::lm
