// Text generation: per-sequence KV caches decoded in lockstep, stop strings,
// UTF-8-safe streaming (see lm/generate.h for the policies and why).
#include "tessera/lm/generate.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lm/text_stream.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/core/stopwatch.h"
#include "tessera/io/safetensors.h"
#include "tessera/checkpoint/folders.h"
#if __has_include("tessera/models/hf_gpt2.h")
#include "tessera/models/hf_gpt2.h"
#define TESSERA_HAVE_HF_GPT2 1
#endif

namespace tessera::lm {
namespace {

struct Sequence {
  std::vector<int32_t> history;  // prompt + sampled ids (the repetition penalty's window)
  models::KVCache cache;
  Generator gen;
  std::optional<TextStream> text;  // sampled ids -> final text
  int32_t next = -1;             // sampled, not yet accepted
  bool done = false;
  Completion out;
};

// The last position's logits of a (1, T, V) forward, as floats.
std::vector<float> last_logits(const Tensor& logits) {
  TSR_CHECK(logits.dim() == 3 && logits.size(0) == 1, ShapeError, "generate: the model returned logits of shape ",
            shape_str(logits.shape()), ", expected (1, T, vocab)");
  Tensor row = logits.select(0, 0).select(0, logits.size(1) - 1);
  return row.to_vector<float>();
}

class Decoder {
 public:
  Decoder(models::GPT& model, const text::Tokenizer& tok, const GenerateOptions& opts, const StreamCallback& cb)
      : model_(model), tok_(tok), opts_(opts), cb_(cb) {
    const auto& cfg = model.config();
    TSR_CHECK(opts.max_new_tokens >= 0, Error, "generate: max_new_tokens must be >= 0, got ", opts.max_new_tokens);
    TSR_CHECK(opts.max_new_tokens < cfg.block_size, Error, "generate: max_new_tokens (", opts.max_new_tokens,
              ") must be smaller than the model's context (block_size ", cfg.block_size,
              ") so that at least one prompt token fits");
    for (const auto& s : opts.stop) TSR_CHECK(!s.empty(), Error, "generate: a stop string must not be empty");
    TSR_CHECK(tok.vocab_size() <= cfg.vocab_size, Error, "generate: the tokenizer has ", tok.vocab_size(),
              " ids but the model's vocab_size is ", cfg.vocab_size);
    sampling_ = {.temperature = opts.temperature,
                 .top_k = opts.top_k,
                 .top_p = opts.top_p,
                 .repetition_penalty = opts.repetition_penalty,
                 .allowed_vocab = tok.vocab_size()};
    validate(sampling_);
    eot_ = tok.eot_id();
  }

  std::vector<Completion> run(const std::vector<std::vector<int32_t>>& prompts) {
    TSR_CHECK(opts_.seeds.empty() || opts_.seeds.size() == prompts.size(), Error, "generate: ", opts_.seeds.size(),
              " seeds given for ", prompts.size(), " prompts (give one per prompt, or none)");
    std::vector<Sequence> seqs(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) start(seqs[i], prompts[i], i);
    // Lockstep: each round accepts one token per live sequence and computes the next.
    for (bool live = true; live;) {
      live = false;
      for (size_t i = 0; i < seqs.size(); ++i) {
        Sequence& s = seqs[i];
        if (s.done) continue;
        accept(s, i);
        if (s.done) continue;
        auto t0 = Clock::now();
        s.next = step(s, {s.out.tokens.back()});
        s.out.decode_seconds += seconds_since(t0);
        ++s.out.decode_steps;
        live = true;
      }
    }
    std::vector<Completion> out;
    for (auto& s : seqs) out.push_back(std::move(s.out));
    return out;
  }

 private:
  void start(Sequence& s, std::vector<int32_t> ids, size_t index) {
    const auto& cfg = model_.config();
    if (ids.empty()) {
      TSR_CHECK(eot_.has_value(), Error, "generate: prompt ", index,
                " is empty and the tokenizer has no <|endoftext|> to start from");
      ids.push_back(*eot_);
    }
    for (int32_t id : ids)
      TSR_CHECK(id >= 0 && id < cfg.vocab_size, IndexError, "generate: prompt ", index, " holds token id ", id,
                ", outside the model's vocabulary [0, ", cfg.vocab_size, ")");
    int64_t keep = cfg.block_size - opts_.max_new_tokens;
    if (static_cast<int64_t>(ids.size()) > keep) {
      s.out.prompt_truncated = true;
      s.out.prompt_tokens_dropped = static_cast<int64_t>(ids.size()) - keep;
      ids.erase(ids.begin(), ids.begin() + s.out.prompt_tokens_dropped);
    }
    s.out.prompt_tokens = static_cast<int64_t>(ids.size());
    s.history = ids;
    s.gen = opts_.seeds.empty() ? sequence_generator(opts_.seed, index) : sequence_generator(opts_.seeds[index], 0);
    s.text.emplace(tok_, opts_.stop, opts_.stop_at_eot);
    if (opts_.max_new_tokens == 0) {
      finish(s, index, "length", s.text->finish());
      return;
    }
    s.cache = model_.make_cache(1, static_cast<int64_t>(ids.size()) + opts_.max_new_tokens);
    auto t0 = Clock::now();
    s.next = step(s, ids);
    s.out.prefill_seconds = seconds_since(t0);
  }

  using Clock = SteadyClock;  // core/stopwatch.h (seconds_since too)

  // Feeds `ids` at the cache's next positions; returns the token sampled after
  // them. Without the KV cache the cache is only scratch: it is cleared and the
  // whole history (which already ends with `ids`) is fed from position 0.
  int32_t step(Sequence& s, const std::vector<int32_t>& ids) {
    const std::vector<int32_t>& feed = opts_.use_kv_cache ? ids : s.history;
    if (!opts_.use_kv_cache) s.cache.reset();
    std::vector<int64_t> v(feed.begin(), feed.end());
    Tensor idx = from_vector<int64_t>(v, {1, static_cast<int64_t>(v.size())});
    // last_only: a prompt's other positions need no output projection (V wide).
    std::vector<float> row = last_logits(model_.forward(idx, s.cache, /*last_only=*/true));
    return sample_token(row, sampling_, s.gen, s.history);
  }

  void accept(Sequence& s, size_t index) {
    int32_t t = s.next;
    s.out.tokens.push_back(t);
    s.history.push_back(t);
    ++s.out.completion_tokens;
    const bool last =
        s.out.completion_tokens >= opts_.max_new_tokens || s.cache.length >= model_.config().block_size;
    std::string_view piece = s.text->push(t, last);
    if (s.text->ended()) return finish(s, index, s.text->stopped() ? "stop" : "length", piece);
    if (!piece.empty() && cb_) cb_(index, piece);
  }

  void finish(Sequence& s, size_t index, const char* reason, std::string_view last_piece) {
    if (!last_piece.empty() && cb_) cb_(index, last_piece);
    s.out.text = std::string(s.text->text());
    s.out.finish_reason = reason;
    s.done = true;
    s.cache = {};  // free the cache as soon as the sequence ends
  }

  models::GPT& model_;
  const text::Tokenizer& tok_;
  const GenerateOptions& opts_;
  const StreamCallback& cb_;
  SamplingOptions sampling_;
  std::optional<int32_t> eot_;
};

// Puts the model in eval mode (no dropout) and grad mode off for a scope.
class InferenceScope {
 public:
  explicit InferenceScope(models::GPT& m) : model_(m), was_training_(m.is_training()) { model_.eval(); }
  ~InferenceScope() { model_.train(was_training_); }

 private:
  models::GPT& model_;
  bool was_training_;
  NoGradGuard no_grad_;
};

}  // namespace

std::vector<Completion> generate_ids(models::GPT& model, const text::Tokenizer& tokenizer,
                                     const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& opts,
                                     const StreamCallback& on_text) {
  InferenceScope scope(model);
  return Decoder(model, tokenizer, opts, on_text).run(prompts);
}

std::vector<Completion> generate(models::GPT& model, const text::Tokenizer& tokenizer,
                                 const std::vector<std::string>& prompts, const GenerateOptions& opts,
                                 const StreamCallback& on_text) {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(prompts.size());
  for (const auto& p : prompts) ids.push_back(tokenizer.encode(p, opts.allow_special_in_prompt));
  return generate_ids(model, tokenizer, ids, opts, on_text);
}

// ---- loading a model + tokenizer from disk ----

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), Error, "cannot read ", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    throw Error(detail::concat(path.string(), ": not valid JSON (", e.what(), ")"));
  }
}

// A model vocabulary may be padded past the tokenizer's (nanoGPT rounds 50257
// up to 50304) but not by more than this: a bigger gap means a wrong pairing.
constexpr int64_t kMaxVocabPadding = 128;

std::shared_ptr<models::GPT> load_tessera_gpt(const fs::path& ck, const json& cfg) {
  fs::path cfg_path = ck / "config.json", weights = ck / "model.safetensors";
  if (cfg.contains("format_version"))
    TSR_CHECK(cfg["format_version"] == 1, Error, cfg_path.string(), ": format_version ", cfg["format_version"].dump(),
              " is not supported (expected 1)");
  models::GPTConfig config;
  try {
    config = models::GPTConfig::from_json(cfg["model"].dump());
  } catch (const Error& e) {
    throw Error(detail::concat(cfg_path.string(), ": \"model\": ", e.what()));
  }
  TSR_CHECK(fs::exists(weights), Error, "checkpoint ", ck.string(), " has no model.safetensors");
  auto model = std::make_shared<models::GPT>(config);
  auto contents = io::load_safetensors(weights.string());
  // With tied embeddings the state_dict lists the shared tensor once; a file
  // written by a tool that also stored lm_head.weight still loads.
  auto state = model->state_dict();
  if (!state.count("lm_head.weight")) contents.tensors.erase("lm_head.weight");
  try {
    model->load_state_dict(contents.tensors, /*strict=*/true);
  } catch (const Error& e) {
    throw Error(detail::concat(weights.string(), " does not match the GPT config in ", cfg_path.string(), ": ",
                               e.what()));
  }
  return model;
}

std::shared_ptr<models::GPT> load_hf_gpt2_folder(const fs::path& ck) {
#ifdef TESSERA_HAVE_HF_GPT2
  return models::load_hf_gpt2(ck.string());
#else
  throw Error(detail::concat(ck.string(), " is a Hugging Face GPT-2 folder, and this build has no GPT-2 importer"));
#endif
}

}  // namespace

LoadedGPT load_gpt_checkpoint(const std::string& dir, const std::string& tokenizer_path) {
  TSR_CHECK(!dir.empty() && fs::exists(dir), Error, "checkpoint not found: '", dir, "'");
  fs::path ck = dir;
  std::vector<fs::path> tokenizer_places;  // where a tokenizer may lie, nearest first
  if (!fs::exists(ck / "config.json")) {
    auto step = checkpoint::latest_step(dir);
    TSR_CHECK(step.has_value(), Error, "no checkpoint in '", dir,
              "': expected config.json + model.safetensors there, or checkpoints/step-N/ under it");
    ck = checkpoint::step_dir(dir, *step);
  }
  tokenizer_places.push_back(ck);
  if (ck.has_parent_path() && ck.parent_path().filename() == "checkpoints")
    tokenizer_places.push_back(ck.parent_path().parent_path());  // the run folder

  LoadedGPT out;
  out.checkpoint_dir = ck.string();
  json cfg = read_json_file(ck / "config.json");
  TSR_CHECK(cfg.is_object(), Error, (ck / "config.json").string(), ": expected a JSON object");
  if (cfg.contains("model") && cfg["model"].is_object()) {
    out.format = "tessera";
    out.step = cfg.contains("step") && cfg["step"].is_number_integer() ? cfg["step"].get<int64_t>() : -1;
    out.model = load_tessera_gpt(ck, cfg);
  } else if (cfg.value("model_type", std::string()) == "gpt2") {
    out.format = "hf-gpt2";
    out.model = load_hf_gpt2_folder(ck);
  } else {
    throw Error(detail::concat((ck / "config.json").string(),
                               ": no GPT config: expected a \"model\" object (a Tessera checkpoint) or "
                               "\"model_type\": \"gpt2\" (a Hugging Face GPT-2 folder)"));
  }

  if (!tokenizer_path.empty()) {
    out.tokenizer_path = tokenizer_path;
  } else {
    for (const auto& place : tokenizer_places) {
      bool has = fs::exists(place / "tokenizer.json") ||
                 (fs::exists(place / "encoder.json") && fs::exists(place / "vocab.bpe"));
      if (has) {
        out.tokenizer_path = place.string();
        break;
      }
    }
    TSR_CHECK(!out.tokenizer_path.empty(), Error, "no tokenizer for checkpoint ", ck.string(),
              ": expected tokenizer.json (or encoder.json + vocab.bpe) there",
              tokenizer_places.size() > 1 ? " or in the run folder" : "", "; pass one explicitly (tessera generate --tokenizer PATH)");
  }
  out.tokenizer = text::load_tokenizer(out.tokenizer_path);
  int64_t tv = out.tokenizer->vocab_size(), mv = out.model->config().vocab_size;
  TSR_CHECK(tv <= mv && mv - tv < kMaxVocabPadding, Error, "tokenizer ", out.tokenizer_path, " has ", tv,
            " ids but the model in ", ck.string(), " has vocab_size ", mv,
            tv > mv ? " (the tokenizer would produce ids the model has no row for)"
                    : " (a model's vocabulary may only pad the tokenizer's by fewer than 128 ids)");
  return out;
}

}  // namespace tessera::lm
