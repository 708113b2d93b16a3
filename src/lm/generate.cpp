// Text generation: per-sequence KV caches decoded in lockstep, stop strings,
// UTF-8-safe streaming (see lm/generate.h for the policies and why).
#include "tessera/lm/generate.h"

#include <algorithm>
#include <chrono>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/core/profiler.h"
#include "tessera/core/stopwatch.h"
#include "tessera/lm/text_stream.h"

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
        {
          profiler::Scope event("decode", profiler::Kind::Step, s.out.decode_steps + 1);  // `generate --profile`
          s.next = step(s, {s.out.tokens.back()});
        }
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
    s.cache = model_.make_cache(1, static_cast<int64_t>(ids.size()) + opts_.max_new_tokens, opts_.kv_cache);
    auto t0 = Clock::now();
    {
      profiler::Scope event("prefill", profiler::Kind::Step, 0);  // `generate --profile`
      s.next = step(s, ids);
    }
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

std::vector<int32_t> encode_prompt(const text::Tokenizer& tokenizer, std::string_view text, bool allow_special) {
  std::vector<int32_t> ids = tokenizer.encode(text, allow_special);
  const std::optional<int32_t> bos = tokenizer.bos_id();
  if (tokenizer.adds_bos() && bos && (ids.empty() || ids.front() != *bos)) ids.insert(ids.begin(), *bos);
  return ids;
}

std::vector<Completion> generate(models::GPT& model, const text::Tokenizer& tokenizer,
                                 const std::vector<std::string>& prompts, const GenerateOptions& opts,
                                 const StreamCallback& on_text) {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(prompts.size());
  for (const auto& p : prompts) ids.push_back(encode_prompt(tokenizer, p, opts.allow_special_in_prompt));
  return generate_ids(model, tokenizer, ids, opts, on_text);
}

}  // namespace tessera::lm
