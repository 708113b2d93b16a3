// The pretraining loop (lm/pretrain.h): random-window batches from the train
// shards, AdamW with nanoGPT's decay groups, warmup + cosine, clipping,
// accumulation, periodic validation loss, atomic checkpoints and exact resume.
// Resume exactness rests on restoring everything that feeds the next update:
// weights, AdamW moments, schedule counters, the batch sampler's Philox state,
// the dropout stream and (MLM) the masking stream.
//
// Two objectives share the loop: causal (a GPT predicting the next token) and
// masked (a BertForMaskedLM). What differs between them (the model, how a
// batch of shard windows becomes a loss, the checkpoint's model section) sits
// behind the small Objective interface below.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lm/pretrain_progress.h"
#include "lm/pretrain_recipe.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/parallel.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/mlm.h"
#include "tessera/lm/pretrain.h"
#include "tessera/models/bert.h"
#include "tessera/nn/regularization.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/loss.h"
#include "tessera/optim/adam.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/text/shards.h"
#include "tessera/text/tokenizer.h"
#include "tessera/checkpoint/folders.h"
#include "train/recipe_json.h"

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
// model's initializer and dropout streams; so are the MLM masking streams.
constexpr uint64_t kSamplerSalt = 0xD1B54A32D192ED03ull;
constexpr uint64_t kTrainMaskSalt = 0x8CB92BA72F3D8DD7ull;
constexpr uint64_t kValMaskSalt = 0xABC98388FB8FAC03ull;

const train::RecipeJson kJson{"recipe"};

// Recipe keys this file reads itself (the shared parser knows only the GPT recipe).
struct ObjectiveRecipe {
  std::string objective = "causal";  // "causal" | "mlm"
  MlmOptions mlm;                    // mask_prob / replace_* from the "mlm" section
};

// ---- the objectives ----

// One objective: the model and the loss of a batch of shard windows.
class Objective {
 public:
  virtual ~Objective() = default;
  virtual nn::Module& module() = 0;
  virtual Generator& dropout_generator() = 0;
  virtual const char* label() const = 0;    // "GPT" | "BERT" (messages)
  virtual std::string task() const = 0;     // config.json "task"
  virtual json model_json() const = 0;      // the "model" section of config.json and summary.json
  virtual void describe(json& /*config*/) const {}  // further config.json keys
  // Windows of window() + 1 shard tokens feed one example (TokenSplit::sample / sequential).
  virtual int64_t window() const = 0;
  // Mean loss of one micro-batch (graph attached in training mode).
  virtual Tensor loss(const text::TokenBatch& b, bool training) = 0;
  virtual void begin_validation() {}
  // Extra random streams to checkpoint (trainer_state.json "rng").
  virtual void save_rng(json& /*rng*/) const {}
  virtual void load_rng(const json& /*rng*/) {}
  virtual int64_t count_parameters(bool non_embedding) const = 0;
  virtual double flops_per_token() const = 0;
};

class CausalObjective : public Objective {
 public:
  CausalObjective(const json& model_section, int64_t seq_len, uint64_t seed) {
    cfg_ = models::GPTConfig::from_json(model_section.dump());
    T_ = seq_len > 0 ? seq_len : cfg_.block_size;
    TSR_CHECK(T_ <= cfg_.block_size, Error, "recipe: train.seq_len ", T_, " exceeds model.block_size ",
              cfg_.block_size);
    model_ = std::make_shared<models::GPT>(cfg_, seed);
  }
  nn::Module& module() override { return *model_; }
  Generator& dropout_generator() override { return model_->dropout_generator(); }
  const char* label() const override { return "GPT"; }
  std::string task() const override { return "language_model"; }
  json model_json() const override { return json::parse(cfg_.to_json()); }
  int64_t window() const override { return T_; }
  Tensor loss(const text::TokenBatch& b, bool) override {
    const int64_t B = b.x.shape()[0];
    Tensor logits = model_->forward(b.x);  // (B, T, V)
    return cross_entropy(logits.reshape({B * T_, cfg_.vocab_size}), b.y.reshape({B * T_}));
  }
  int64_t count_parameters(bool non_embedding) const override { return model_->count_parameters(non_embedding); }
  double flops_per_token() const override { return model_->flops_per_token(T_); }

 private:
  models::GPTConfig cfg_;
  std::shared_ptr<models::GPT> model_;
  int64_t T_ = 0;
};

// BERT's masked LM on packed windows (RoBERTa's FULL-SENTENCES input without
// next-sentence prediction): each example is seq_len - 2 consecutive shard
// tokens, which may cross document separators, wrapped as [CLS] window [SEP].
class MaskedObjective : public Objective {
 public:
  MaskedObjective(json model_section, int64_t seq_len, uint64_t seed, int64_t data_vocab,
                  const std::string& tokenizer_file, MlmOptions mlm)
      : mlm_(std::move(mlm)), train_masks_(seed ^ kTrainMaskSalt), val_seed_(seed ^ kValMaskSalt) {
    auto tok = text::load_tokenizer(tokenizer_file);
    auto need = [&](const char* name) {
      auto id = tok->special_id(name);
      TSR_CHECK(id.has_value(), Error, "pretrain --objective mlm: the tokenizer ", tokenizer_file, " (", tok->kind(),
                ") has no ", name, " token; masked-LM pretraining needs [CLS], [SEP], [MASK] and [PAD] ",
                "(a WordPiece vocabulary, or a tokenizer trained with those specials)");
      return static_cast<int64_t>(*id);
    };
    cls_ = need("[CLS]"), sep_ = need("[SEP]");
    int64_t mask = need("[MASK]"), pad = need("[PAD]");
    // The recipe's model section is a BertConfig (config.json keys); typos are errors.
    std::set<std::string> known;
    const json defaults = json::parse(models::BertConfig().to_json());
    for (auto it = defaults.begin(); it != defaults.end(); ++it) known.insert(it.key());
    kJson.check_keys(model_section, "model.", known);
    if (!model_section.contains("pad_token_id")) model_section["pad_token_id"] = pad;
    cfg_ = models::BertConfig::from_json(model_section.dump(), "recipe model section");
    S_ = seq_len > 0 ? seq_len : cfg_.max_position_embeddings;
    TSR_CHECK(S_ <= cfg_.max_position_embeddings, Error, "recipe: train.seq_len ", S_,
              " exceeds model.max_position_embeddings ", cfg_.max_position_embeddings);
    TSR_CHECK(S_ >= 4, Error, "recipe: train.seq_len must be >= 4 for masked-LM pretraining ([CLS] + [SEP] + ",
              "two tokens), got ", S_);
    mlm_.mask_id = mask;
    mlm_.pad_id = pad;
    mlm_.vocab_size = data_vocab;  // random replacements stay inside the tokenizer's ids
    mlm_.special_ids = {cls_, sep_, pad, mask};
    model_ = std::make_shared<models::BertForMaskedLM>(cfg_, seed);
  }
  nn::Module& module() override { return *model_; }
  Generator& dropout_generator() override { return model_->bert->dropout_generator(); }
  const char* label() const override { return "BERT"; }
  std::string task() const override { return "masked_language_model"; }
  json model_json() const override { return json::parse(cfg_.to_json()); }
  void describe(json& c) const override {
    c["architecture"] = "bert";
    c["mlm"] = {{"mask_prob", mlm_.mask_prob}, {"replace_mask", mlm_.replace_mask},
                {"replace_random", mlm_.replace_random}, {"seq_len", S_}};
  }
  int64_t window() const override { return S_ - 3; }  // windows of S - 2 tokens

  Tensor loss(const text::TokenBatch& b, bool training) override {
    Tensor ids = wrap(b);
    MlmBatch m = mask_tokens(ids, mlm_, training ? train_masks_ : val_masks_);
    const int64_t B = ids.shape()[0];
    Tensor logits = model_->forward(m.input_ids, m.attention_mask);  // (B, S, V)
    Tensor flat = logits.reshape({B * S_, cfg_.vocab_size}), labels = m.labels.reshape({B * S_});
    // A batch with no selected position has nothing to predict: loss 0 (the
    // mean over no positions would be NaN and stop the run).
    if (m.num_selected == 0) return cross_entropy(flat, labels, Tensor(), -100, 0.0, "sum");
    return cross_entropy(flat, labels);
  }
  // The same masks at every evaluation: the validation stream restarts.
  void begin_validation() override { val_masks_ = Generator(val_seed_); }
  void save_rng(json& rng) const override { rng["masking"] = {train_masks_.seed(), train_masks_.offset()}; }
  void load_rng(const json& rng) override {
    train_masks_.set_state(rng.at("masking").at(0), rng.at("masking").at(1));
  }
  // Position and token-type embeddings are lookups (no FLOPs); the word
  // embeddings stay in: they are also the tied output projection.
  int64_t count_parameters(bool non_embedding) const override {
    int64_t n = model_->num_parameters();
    if (non_embedding) n -= (cfg_.max_position_embeddings + cfg_.type_vocab_size) * cfg_.hidden_size;
    return n;
  }
  // As GPT's estimate (PaLM appendix B): 6 N + 12 L H T. Approximate for BERT:
  // N counts the MLM head's transform, applied at every position as the loss
  // sees only the selected ones; attention is bidirectional over all T keys.
  double flops_per_token() const override {
    return 6.0 * static_cast<double>(count_parameters(true)) +
           12.0 * static_cast<double>(cfg_.num_hidden_layers * cfg_.hidden_size * S_);
  }

 private:
  // (B, S - 2) window tokens -> (B, S) [CLS] window [SEP]. The shard window
  // is x's first token followed by y (y = window[1:]).
  Tensor wrap(const text::TokenBatch& b) const {
    const int64_t B = b.x.shape()[0], W = S_ - 2;
    Tensor x = b.x.contiguous(), y = b.y.contiguous();
    const int64_t* px = x.data<int64_t>();
    const int64_t* py = y.data<int64_t>();
    std::vector<int64_t> ids(static_cast<size_t>(B * S_));
    for (int64_t r = 0; r < B; ++r) {
      int64_t* row = ids.data() + r * S_;
      row[0] = cls_;
      row[1] = px[r * (W - 1)];
      for (int64_t j = 0; j < W - 1; ++j) row[2 + j] = py[r * (W - 1) + j];
      row[S_ - 1] = sep_;
    }
    return from_vector(ids, {B, S_});
  }

  models::BertConfig cfg_;
  std::shared_ptr<models::BertForMaskedLM> model_;
  MlmOptions mlm_;
  int64_t S_ = 0, cls_ = 0, sep_ = 0;
  Generator train_masks_, val_masks_;
  uint64_t val_seed_;
};

// Splits the objective's own keys off the recipe; the rest goes to the shared parser.
ObjectiveRecipe take_objective_keys(json& raw) {
  ObjectiveRecipe o;
  if (!raw.is_object()) return o;
  if (raw.contains("objective")) {
    TSR_CHECK(raw["objective"].is_string() && (raw["objective"] == "causal" || raw["objective"] == "mlm"), Error,
              "recipe: 'objective' must be \"causal\" or \"mlm\", got ", raw["objective"].dump());
    o.objective = raw["objective"].get<std::string>();
    raw.erase("objective");
  }
  if (raw.contains("mlm")) {
    TSR_CHECK(o.objective == "mlm", Error, "recipe: the \"mlm\" section needs \"objective\": \"mlm\"");
    const json& m = kJson.section(raw, "mlm");
    kJson.check_keys(m, "mlm.", {"mask_prob", "replace_mask", "replace_random"});
    kJson.read(m, "mlm.", "mask_prob", o.mlm.mask_prob);
    kJson.read(m, "mlm.", "replace_mask", o.mlm.replace_mask);
    kJson.read(m, "mlm.", "replace_random", o.mlm.replace_random);
    TSR_CHECK(o.mlm.mask_prob > 0 && o.mlm.mask_prob <= 1, Error, "recipe: 'mlm.mask_prob' must lie in (0, 1], got ",
              o.mlm.mask_prob);
    TSR_CHECK(o.mlm.replace_mask >= 0 && o.mlm.replace_random >= 0 && o.mlm.replace_mask + o.mlm.replace_random <= 1,
              Error, "recipe: 'mlm.replace_mask' and 'mlm.replace_random' must be >= 0 and sum to at most 1");
    raw.erase("mlm");
  }
  if (o.objective == "mlm" && raw.contains("task")) {
    TSR_CHECK(raw["task"] == "masked_language_model", Error,
              "recipe: 'task' must be \"masked_language_model\" with \"objective\": \"mlm\", got ", raw["task"].dump());
    raw.erase("task");
  }
  return o;
}

}  // namespace

struct Pretrainer {
  PretrainRecipe r;
  ObjectiveRecipe objective_recipe;
  std::string data_dir, out;
  PretrainOptions opts;
  text::TokenData data;
  std::unique_ptr<Objective> obj;
  std::unique_ptr<optim::AdamW> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  Generator sampler;
  std::unique_ptr<LMProgress> progress;
  std::ofstream metrics;
  std::string tokenizer_bytes;
  int64_t T = 0, step = 0, tokens_seen = 0;  // T: model positions per example
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
    std::string tokenizer_file = opts.tokenizer_file.empty() ? data.tokenizer_file : opts.tokenizer_file;
    if (objective_recipe.objective == "mlm") {
      obj = std::make_unique<MaskedObjective>(m, r.seq_len, r.seed, data.vocab_size, tokenizer_file,
                                              objective_recipe.mlm);
      T = obj->window() + 3;
    } else {
      obj = std::make_unique<CausalObjective>(m, r.seq_len, r.seed);
      T = obj->window();
    }
    const int64_t w = obj->window();
    TSR_CHECK(data.train.num_windows(w) > 0, Error, "pretrain: the train split of ", data_dir, " holds ",
              data.train.num_tokens(), " tokens, too few for one window of ", w + 1);
    if (!data.val.empty() && data.val.num_sequential_windows(w) == 0) data.val = text::TokenSplit();
    obj->module().train();
    optim::AdamWOptions o;
    o.lr = r.lr, o.beta1 = r.beta1, o.beta2 = r.beta2, o.eps = r.eps, o.weight_decay = r.weight_decay;
    // nanoGPT's split: decay on 2-D weights (embeddings too), none on biases and norm weights.
    optimizer = std::make_unique<optim::AdamW>(optim::decay_groups(obj->module(), r.weight_decay), o);
    int64_t wu = std::min(r.warmup_steps, r.steps);
    if (r.schedule == "cosine") {
      scheduler = std::make_unique<optim::WarmupCosineLR>(*optimizer, wu, r.steps, r.min_lr);
    } else if (r.schedule == "linear") {
      scheduler = std::make_unique<optim::WarmupLinearLR>(*optimizer, wu, r.steps, r.min_lr);
    } else {
      scheduler = std::make_unique<optim::LambdaLR>(*optimizer, [wu](int64_t s) {
        return wu > 0 && s < wu ? static_cast<double>(s) / static_cast<double>(wu) : 1.0;
      });
    }
    sampler = Generator(r.seed ^ kSamplerSalt);
    peak = r.peak_flops > 0 ? r.peak_flops : kDefaultPeakFlops;
    flops_per_token = obj->flops_per_token();
    tokenizer_bytes = read_text(tokenizer_file);
    progress = std::make_unique<LMProgress>(opts.quiet, r.steps);
  }

  // ---- checkpoints ----
  json config_json() const {
    json c;
    c["format_version"] = checkpoint::kFormatVersion;
    c["step"] = step;
    c["task"] = obj->task();
    c["model"] = obj->model_json();
    obj->describe(c);
    c["recipe"] = r.raw;
    c["tokenizer"] = {{"file", "tokenizer.json"}, {"fingerprint", text::fingerprint_hex(data.fingerprint)}};
    c["data"] = {{"dir", data_dir}, {"meta", json::parse(data.meta_json)}};
    return c;
  }

  void save_checkpoint(double wall_now) {
    std::string tmp = checkpoint::begin(out, step);
    fs::path d(tmp);
    io::save_safetensors((d / "model.safetensors").string(), obj->module().state_dict(),
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
    st["rng"]["dropout"] = {obj->dropout_generator().seed(), obj->dropout_generator().offset()};
    st["rng"]["default"] = {default_generator().seed(), default_generator().offset()};
    obj->save_rng(st["rng"]);
    io::write_file_atomic((d / "trainer_state.json").string(), st.dump(2) + "\n");
    checkpoint::commit(tmp, out, step);
    last_checkpoint = step;
    checkpoint::prune(out, r.keep_last, std::nullopt);
  }

  void load_checkpoint(int64_t s) {
    std::string dir = checkpoint::step_dir(out, s);
    json c;
    try {
      c = json::parse(checkpoint::read_config(dir));
    } catch (const json::exception& e) {
      throw Error("checkpoint " + dir + ": config.json is malformed: " + e.what());
    }
    const std::string want = obj->task();
    TSR_CHECK(c.value("task", std::string()) == want && c.contains("model"), Error, "checkpoint ", dir, " is not a ",
              want == "language_model" ? "language-model" : "masked-language-model", " checkpoint (task ",
              c.value("task", std::string("?")), ")");
    // The architecture must match the recipe's: list every field that differs.
    json mine = obj->model_json(), theirs = c["model"];
    std::string diff;
    for (auto it = mine.begin(); it != mine.end(); ++it) {
      if (!theirs.contains(it.key()) || theirs[it.key()] != it.value())
        diff += std::string(diff.empty() ? "" : "; ") + "model." + it.key() + " is " +
                (theirs.contains(it.key()) ? theirs[it.key()].dump() : "missing") + " there, " + it.value().dump() +
                " here";
    }
    TSR_CHECK(diff.empty(), Error, "--resume: checkpoint ", dir, " was trained with another ", obj->label(),
              " config than the recipe's: ", diff);
    std::string fp = c.contains("tokenizer") ? c["tokenizer"].value("fingerprint", std::string()) : std::string();
    TSR_CHECK(fp == text::fingerprint_hex(data.fingerprint), Error, "--resume: checkpoint ", dir,
              " was trained on shards of tokenizer ", fp, ", the data in ", data_dir, " uses ",
              text::fingerprint_hex(data.fingerprint));
    auto weights = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
    obj->module().load_state_dict(weights.tensors);
    optimizer->load((fs::path(dir) / "optimizer.bin").string());
    scheduler->load((fs::path(dir) / "scheduler.bin").string());
    try {
      json st = json::parse(read_text((fs::path(dir) / "trainer_state.json").string()));
      step = st.at("step");
      tokens_seen = st.at("tokens_seen");
      wall_before = st.at("wall_seconds");
      const json& g = st.at("rng");
      sampler.set_state(g.at("sampler").at(0), g.at("sampler").at(1));
      obj->dropout_generator().set_state(g.at("dropout").at(0), g.at("dropout").at(1));
      default_generator().set_state(g.at("default").at(0), g.at("default").at(1));
      obj->load_rng(g);
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
      text::TokenBatch b = data.train.sample(r.batch_size, obj->window(), sampler);
      Tensor loss = obj->loss(b, /*training=*/true);
      double v = loss.item();
      if (!std::isfinite(v)) return v;  // the caller stops before any update
      if (r.grad_accum > 1) loss = mul(loss, 1.0 / static_cast<double>(r.grad_accum));
      loss.backward();
      sum += v;
    }
    if (r.clip_grad_norm > 0) nn::clip_grad_norm_(obj->module().parameters(), r.clip_grad_norm);
    optimizer->step();
    scheduler->step();
    return sum / static_cast<double>(r.grad_accum);
  }

  double validation_loss() {
    obj->module().eval();
    obj->begin_validation();
    NoGradGuard no_grad;
    double sum = 0;
    for (int64_t i = 0; i < r.eval_batches; ++i)
      sum += obj->loss(data.val.sequential(i, r.batch_size, obj->window()), /*training=*/false).item();
    obj->module().train();
    return sum / static_cast<double>(r.eval_batches);
  }
  PretrainResult run() {
    std::error_code ec;
    fs::create_directories(out, ec);
    TSR_CHECK(!ec, Error, "pretrain: cannot create the output folder ", out, ": ", ec.message());
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
    if (data.val.empty()) progress->message("note: " + data_dir + " has no usable validation split; no val_loss");
    open_metrics(resumed);
    progress->message(std::string(obj->label()) + ": " + std::to_string(obj->count_parameters(false)) + " parameters, " +
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
        std::string where = last_checkpoint ? "the last good checkpoint is " + checkpoint::step_dir(out, *last_checkpoint)
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
    s["num_parameters"] = obj->count_parameters(false);
    s["num_parameters_non_embedding"] = obj->count_parameters(true);
    s["seq_len"] = T;
    s["data"] = data_dir;
    if (last_checkpoint) s["last_checkpoint"] = checkpoint::step_dir(out, *last_checkpoint);
    s["model"] = obj->model_json();
    s["objective"] = objective_recipe.objective;
    s["config"] = r.raw;
    std::string text = s.dump(2) + "\n";
    io::write_file_atomic((fs::path(out) / "summary.json").string(), text);
    return text;
  }
};

PretrainResult pretrain(const std::string& recipe_json, const std::string& data_dir, const std::string& out_dir,
                        const PretrainOptions& options) {
  Pretrainer p;
  // The objective's keys ("objective", "mlm") are read here; the shared parser
  // sees the rest. Checkpoints and summary.json record the recipe as given.
  json raw;
  try {
    raw = json::parse(recipe_json);
  } catch (const json::exception&) {
    p.r = parse_pretrain_recipe(recipe_json);  // reports the JSON error
  }
  json rest = raw;
  p.objective_recipe = take_objective_keys(rest);
  p.r = parse_pretrain_recipe(rest == raw ? recipe_json : rest.dump());
  p.r.raw = raw;
  p.data_dir = data_dir;
  p.out = out_dir;
  p.opts = options;
  p.setup();
  return p.run();
}

}  // namespace tessera::lm
