// LanguageModelObjective (lm/lm_objective.h): batches, validation loss,
// reports and the checkpoint folder shared by causal and masked LM.
#include "lm/lm_objective.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "tessera/autograd/grad_mode.h"
#include "tessera/checkpoint/folders.h"
#include "tessera/core/machine_peak.h"
#include "tessera/core/parallel.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/pretrain.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::lm {

namespace {

// The sampler's stream is derived from the seed but kept apart from the
// model's initializer and dropout streams.
constexpr uint64_t kSamplerSalt = 0xD1B54A32D192ED03ull;

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

LanguageModelObjective::LanguageModelObjective(const PretrainRecipe& recipe, text::TokenData data)
    : recipe_(recipe), data_(std::move(data)), sampler_(recipe.seed ^ kSamplerSalt), precision_(precision_name(recipe.precision)) {
  if (recipe_.peak_flops > 0) {
    peak_flops_ = recipe_.peak_flops, peak_source_ = "recipe";
  } else {
    const MachinePeak peak = machine_peak(get_num_threads());
    peak_flops_ = peak.for_precision(precision_);
    peak_source_ = peak.from_cache ? "cached measurement" : "measured";
  }
  // MFU is the job's: its tokens/s (summed over data-parallel ranks) over the
  // peak of every rank's threads, taken as N times this rank's.
  peak_flops_ *= static_cast<double>(dist::world().size);
}

void LanguageModelObjective::prepare(const std::string& tokenizer_file) {
  const int64_t w = window();
  TSR_CHECK(data_.train.num_windows(w) > 0, Error, "pretrain: the train split of ", data_.dir, " holds ",
            data_.train.num_tokens(), " tokens, too few for one window of ", w + 1);
  if (!data_.val.empty() && data_.val.num_sequential_windows(w) == 0) data_.val = text::TokenSplit();
  module().train();
  tokenizer_bytes_ = io::read_file(tokenizer_file, "pretrain");
}

train::MicroBatchLoss LanguageModelObjective::next_loss() {
  // Data parallel: every rank samples the same global batch (one sampler
  // stream) and keeps its rows, so any world size sees the same data.
  text::TokenBatch b = data_.train.sample(recipe_.batch_size, window(), sampler_);
  const dist::Range r = dist::shard(recipe_.batch_size);
  if (r.size() == recipe_.batch_size)
    return {batch_loss(b, /*training=*/true), recipe_.batch_size, recipe_.batch_size * positions()};
  return shard_loss(b, r);
}

train::MicroBatchLoss LanguageModelObjective::shard_loss(const text::TokenBatch& b, dist::Range r) {
  const int64_t B = b.x.size(0);
  if (r.size() == 0) return {Tensor(), 0, 0, 0.0};
  text::TokenBatch mine{b.x.narrow(0, r.begin, r.size()).contiguous(), b.y.narrow(0, r.begin, r.size()).contiguous()};
  return {batch_loss(mine, /*training=*/true), r.size(), r.size() * positions(),
          static_cast<double>(r.size()) / static_cast<double>(B)};
}

train::ProgressStyle LanguageModelObjective::progress_style() const {
  return {.tokens = true, .flops_per_token = flops_per_token(), .peak_flops = peak_flops_, .precision = precision_};
}

train::EvalResult LanguageModelObjective::evaluate() {
  nn::Module& m = module();
  m.eval();
  begin_validation();
  double sum = 0;
  {
    NoGradGuard no_grad;
    for (int64_t i = 0; i < recipe_.eval_batches; ++i)
      sum += batch_loss(data_.val.sequential(i, recipe_.batch_size, window()), /*training=*/false).item();
  }
  m.train();
  const double loss = sum / static_cast<double>(recipe_.eval_batches);
  char table[64];
  std::snprintf(table, sizeof table, "val loss %.4f", loss);
  return {table, json({{"val_loss", finite_or_null(loss)}}).dump(), {{"loss", loss}}};
}

bool LanguageModelObjective::report_step(const train::StepStats& s, bool train_line_due, const train::EvalResult* eval,
                                         train::RunLog& log) {
  if (eval) {
    val_loss_ = eval->scalars.at(0).second;
    char buf[96];
    std::snprintf(buf, sizeof buf, "step %lld: val loss %.4f", static_cast<long long>(s.step), *val_loss_);
    log.message(buf);
  }
  if (!train_line_due && !eval) return false;
  // An evaluation step always logs, with its val_loss beside the train loss.
  train_loss_ = s.window_loss;
  json line = {{"type", "train"},
               {"step", s.step},
               {"loss", s.window_loss},
               {"lr", s.lr},
               {"tokens_per_second", s.tokens_per_second},
               {"mfu", flops_per_token() * s.tokens_per_second / peak_flops_},
               {"tokens", s.tokens_seen},
               {"elapsed_seconds", s.elapsed_seconds}};
  if (eval) line["val_loss"] = *val_loss_;
  log.line(line.dump());
  return true;
}

void LanguageModelObjective::announce(train::RunLog& log) {
  if (data_.val.empty()) log.message("note: " + data_.dir + " has no usable validation split; no val_loss");
  log.message(std::string(label()) + ": " + std::to_string(count_parameters(false)) + " parameters, " +
              std::to_string(recipe_.batch_size * recipe_.grad_accum * positions()) + " tokens per step, " +
              std::to_string(data_.train.num_tokens()) + " train tokens");
  char peak[160];
  std::snprintf(peak, sizeof peak, "MFU against %.1f GFLOP/s, the %s peak (%s, %d threads)", peak_flops_ / 1e9,
                precision_.c_str(), peak_source_ == "recipe" ? "recipe's train.peak_flops" : peak_source_.c_str(),
                get_num_threads());
  log.message(peak);
}

std::string LanguageModelObjective::summary_json(const train::RunSummary& run) const {
  const double tps = run.last.tokens_per_second, fpt = flops_per_token();
  json s;
  s["val_loss"] = val_loss_ ? finite_or_null(*val_loss_) : json(nullptr);
  s["train_loss"] = finite_or_null(train_loss_);
  s["tokens"] = run.last.tokens_seen;
  s["tokens_per_second"] = tps;
  s["flops_per_token"] = fpt;
  s["peak_flops"] = peak_flops_;
  s["peak_flops_source"] = peak_source_ == "recipe" ? "recipe" : "measured";
  s["mfu"] = fpt * tps / peak_flops_;
  s["num_parameters"] = count_parameters(false);
  s["num_parameters_non_embedding"] = count_parameters(true);
  s["seq_len"] = positions();
  s["data"] = data_.dir;
  s["model"] = model_json();
  s["objective"] = recipe_.objective;
  s["config"] = recipe_.raw;
  return s.dump();
}

void LanguageModelObjective::save_files(const std::string& dir, int64_t step) {
  const fs::path d(dir);
  io::save_safetensors((d / "model.safetensors").string(), module().state_dict(),
                       {{"format", "pt"}, {"step", std::to_string(step)}});
  json c;
  c["format_version"] = checkpoint::kFormatVersion;
  c["step"] = step;
  c["task"] = task();
  c["model"] = model_json();
  describe(c);
  c["recipe"] = recipe_.raw;
  c["tokenizer"] = {{"file", "tokenizer.json"}, {"fingerprint", text::fingerprint_hex(data_.fingerprint)}};
  c["data"] = {{"dir", data_.dir}, {"meta", json::parse(data_.meta_json)}};
  io::write_file_atomic((d / "config.json").string(), c.dump(2) + "\n");
  io::write_file_atomic((d / "tokenizer.json").string(), tokenizer_bytes_);
}

std::string LanguageModelObjective::state_json() {
  json rng;
  rng["sampler"] = {sampler_.seed(), sampler_.offset()};
  rng["dropout"] = {dropout_generator().seed(), dropout_generator().offset()};
  save_rng(rng);
  return json({{"rng", rng}}).dump();
}

void LanguageModelObjective::load(const std::string& dir, const std::string& config_json, const std::string& state_json) {
  json c;
  try {
    c = json::parse(config_json);
  } catch (const json::exception& e) {
    throw Error("checkpoint " + dir + ": config.json is malformed: " + e.what());
  }
  const std::string want = task();
  TSR_CHECK(c.value("task", std::string()) == want && c.contains("model"), Error, "checkpoint ", dir, " is not a ",
            want == "language_model" ? "language-model" : "masked-language-model", " checkpoint (task ",
            c.value("task", std::string("?")), ")");
  // The architecture must match the recipe's: list every field that differs.
  json mine = model_json(), theirs = c["model"];
  std::string diff;
  for (auto it = mine.begin(); it != mine.end(); ++it) {
    if (!theirs.contains(it.key()) || theirs[it.key()] != it.value())
      diff += std::string(diff.empty() ? "" : "; ") + "model." + it.key() + " is " +
              (theirs.contains(it.key()) ? theirs[it.key()].dump() : "missing") + " there, " + it.value().dump() +
              " here";
  }
  TSR_CHECK(diff.empty(), Error, "--resume: checkpoint ", dir, " was trained with another ", label(),
            " config than the recipe's: ", diff);
  std::string fp = c.contains("tokenizer") ? c["tokenizer"].value("fingerprint", std::string()) : std::string();
  TSR_CHECK(fp == text::fingerprint_hex(data_.fingerprint), Error, "--resume: checkpoint ", dir,
            " was trained on shards of tokenizer ", fp, ", the data in ", data_.dir, " uses ",
            text::fingerprint_hex(data_.fingerprint));
  auto weights = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
  module().load_state_dict(weights.tensors);
  try {
    const json g = json::parse(state_json).at("rng");
    sampler_.set_state(g.at("sampler").at(0), g.at("sampler").at(1));
    dropout_generator().set_state(g.at("dropout").at(0), g.at("dropout").at(1));
    load_rng(g);
  } catch (const json::exception& e) {
    throw Error("checkpoint " + dir + ": trainer_state.json is malformed: " + e.what());
  }
}

}  // namespace tessera::lm
