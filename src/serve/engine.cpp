// The serving engine (serve/engine.h): one scheduler thread, a bounded queue,
// continuous batching over GPT::decode_step.
//
// Every step of the scheduler: admit waiting requests (up to max_batch
// running) and give each its cache, retire what was cancelled, prefill up to
// prefill_chunk prompt tokens of the sequences still prefilling (oldest first;
// a prompt that completes samples its first token), then advance every
// sequence past its prefill by one token with one batched decode step. The
// scheduler sleeps on a condition variable while there is nothing to do.
//
// Prefill in chunks: GPT::forward(ids, cache, last_only) appends a chunk at
// the cache's length with a bottom-right causal mask, so the cache's length is
// how far the prompt has got; only the last chunk's logits are sampled (the
// others' last-position projection is a (1, C) x (C, V) product thrown away,
// a small price beside the chunk's own GEMMs).
//
// Caches: each sequence gets its own batch-1 cache of prompt + max_tokens
// positions (capped at block_size), freed when it retires; so memory follows
// what the running requests asked for (GPT-2 small: 72 KiB per position, 72 MiB
// for a full 1024-token context) rather than max_batch full contexts.
#include "tessera/serve/engine.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"
#include "tessera/core/stopwatch.h"
#include "tessera/lm/text_stream.h"

namespace tessera::serve {
namespace {

using Clock = SteadyClock;  // core/stopwatch.h (seconds_between too)

// One request from submit() to on_done.
struct Sequence {
  SequenceRequest req;
  Clock::time_point submitted;
  SequenceResult result;
  lm::SamplingOptions sampling;
  std::vector<int32_t> history;  // prompt + sampled ids (the repetition penalty's window)
  models::KVCache cache;
  Generator gen;
  std::optional<lm::TextStream> text;
  int32_t last = -1;             // the newest sampled id: the next decode step's input
  bool admitted = false;         // counted in EngineStats::running
  bool decoding = false;         // prompt prefilled and first token sampled
  bool done = false;

  bool cancel_requested() const { return req.cancelled && req.cancelled->load(); }
  int64_t prompt_left() const { return static_cast<int64_t>(req.prompt.size()) - cache.length; }
};

}  // namespace

struct Engine::Impl {
  std::shared_ptr<models::GPT> model;
  std::shared_ptr<const text::Tokenizer> tokenizer;
  EngineOptions opts;
  int threads = 1;  // the engine thread's compute threads

  mutable std::mutex mu;  // guards queue, stopping, stats
  std::condition_variable wake;
  std::deque<std::unique_ptr<Sequence>> queue;
  bool stopping = false;
  EngineStats stats;

  std::vector<std::unique_ptr<Sequence>> running;  // the engine thread's own
  // decode()'s inputs, refilled every step: kept so a step allocates no vectors.
  std::vector<Sequence*> batch;
  std::vector<int32_t> tokens;
  std::vector<models::KVCache*> caches;
  std::thread thread;

  void run();
  void admit(Sequence& s);
  void prefill();
  void prefill_chunk(Sequence& s, int64_t n);
  void decode();
  void sample_and_accept(Sequence& s, const float* logits);
  void accept(Sequence& s, int32_t id);
  void retire(Sequence& s, const char* reason, const std::string& error = "");
  void add_busy(Clock::time_point t0, int64_t prompt_tokens = 0, int64_t steps = 0) {
    double busy = seconds_between(t0, Clock::now());
    std::lock_guard lk(mu);
    stats.busy_seconds += busy;
    stats.prompt_tokens += prompt_tokens;
    stats.prefill_chunks += prompt_tokens > 0 ? 1 : 0;
    stats.steps += steps;
  }
};

Engine::Engine(std::shared_ptr<models::GPT> model, std::shared_ptr<const text::Tokenizer> tokenizer, EngineOptions opts)
    : impl_(std::make_unique<Impl>()) {
  TSR_CHECK(model != nullptr && tokenizer != nullptr, Error, "Engine: needs a model and a tokenizer");
  TSR_CHECK(opts.max_batch >= 1, Error, "Engine: max_batch must be >= 1, got ", opts.max_batch);
  TSR_CHECK(opts.max_queue >= 0, Error, "Engine: max_queue must be >= 0, got ", opts.max_queue);
  TSR_CHECK(opts.threads >= 0, Error, "Engine: threads must be >= 0, got ", opts.threads);
  TSR_CHECK(opts.prefill_chunk >= 0, Error, "Engine: prefill_chunk must be >= 0 (0 = whole prompts), got ",
            opts.prefill_chunk);
  TSR_CHECK(opts.kv_cache == DType::F32 || opts.kv_cache == DType::BF16, DTypeError,
            "Engine: kv_cache must be float32 or bfloat16, got ", dtype_name(opts.kv_cache));
  TSR_CHECK(tokenizer->vocab_size() <= model->config().vocab_size, Error, "Engine: the tokenizer has ",
            tokenizer->vocab_size(), " ids but the model's vocab_size is ", model->config().vocab_size);
  impl_->model = std::move(model);
  impl_->tokenizer = std::move(tokenizer);
  impl_->opts = opts;
  // OpenMP's thread count is per thread: the engine thread takes the caller's
  // current count unless told otherwise.
  impl_->threads = opts.threads > 0 ? opts.threads : get_num_threads();
  impl_->model->eval();
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

Engine::~Engine() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

bool Engine::submit(SequenceRequest request) {
  auto s = std::make_unique<Sequence>();
  s->req = std::move(request);
  s->submitted = Clock::now();
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopping || static_cast<int64_t>(impl_->queue.size()) >= impl_->opts.max_queue) return false;
    impl_->queue.push_back(std::move(s));
    impl_->stats.waiting = static_cast<int64_t>(impl_->queue.size());
  }
  impl_->wake.notify_one();
  return true;
}

EngineStats Engine::stats() const {
  std::lock_guard lk(impl_->mu);
  return impl_->stats;
}

const EngineOptions& Engine::options() const { return impl_->opts; }

int64_t Engine::block_size() const { return impl_->model->config().block_size; }

void Engine::Impl::run() {
  set_num_threads(threads);
  NoGradGuard no_grad;
  for (;;) {
    std::vector<std::unique_ptr<Sequence>> admitted, dropped;  // dropped: cancelled while waiting
    {
      std::unique_lock lk(mu);
      wake.wait(lk, [&] { return stopping || !queue.empty() || !running.empty(); });
      if (stopping) break;
      for (auto it = queue.begin(); it != queue.end();) {
        if ((*it)->cancel_requested()) {
          dropped.push_back(std::move(*it));
          it = queue.erase(it);
        } else {
          ++it;
        }
      }
      while (static_cast<int64_t>(running.size() + admitted.size()) < opts.max_batch && !queue.empty()) {
        admitted.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      stats.waiting = static_cast<int64_t>(queue.size());
      stats.running += static_cast<int64_t>(admitted.size());
    }
    for (auto& s : admitted) s->admitted = true;
    for (auto& s : dropped) retire(*s, "cancelled");
    const size_t first_new = running.size();
    for (auto& s : admitted) running.push_back(std::move(s));
    try {
      for (size_t i = first_new; i < running.size(); ++i) admit(*running[i]);
      for (auto& s : running)
        if (!s->done && s->cancel_requested()) retire(*s, "cancelled");
      std::erase_if(running, [](const auto& s) { return s->done; });
      prefill();
      decode();
    } catch (const std::exception& e) {
      // Model and callback errors are handled per sequence; anything else
      // (out of memory in the scheduler itself) ends the batch, not the engine.
      for (auto& s : running) retire(*s, "error", e.what());
    }
    std::erase_if(running, [](const auto& s) { return s->done; });
  }
  // Shutting down: whatever waits or runs finishes "cancelled".
  std::deque<std::unique_ptr<Sequence>> waiting;
  {
    std::lock_guard lk(mu);
    waiting.swap(queue);
    stats.waiting = 0;
  }
  for (auto& s : running) retire(*s, "cancelled");
  for (auto& s : waiting) retire(*s, "cancelled");
  running.clear();
}

// Checks the request and gives it its cache and sampling state; prefill()
// does the model's work. A bad request retires with "error"; the engine goes
// on.
void Engine::Impl::admit(Sequence& s) {
  const auto& cfg = model->config();
  const SequenceRequest& r = s.req;
  s.result.queue_seconds = seconds_between(s.submitted, Clock::now());
  s.result.prompt_tokens = static_cast<int64_t>(r.prompt.size());
  try {
    s.text.emplace(*tokenizer, r.stop, r.stop_at_eot);
    s.sampling = r.sampling;
    if (s.sampling.allowed_vocab < 0) s.sampling.allowed_vocab = tokenizer->vocab_size();
    lm::validate(s.sampling);
    const int64_t P = static_cast<int64_t>(r.prompt.size());
    TSR_CHECK(P >= 1, Error, "the prompt is empty (it needs at least one token)");
    TSR_CHECK(P <= cfg.block_size, Error, "the prompt has ", P, " tokens, more than the model's context (block_size ",
              cfg.block_size, ")");
    if (s.cancel_requested()) return retire(s, "cancelled");
    if (r.max_tokens <= 0) return retire(s, "length");
    s.history = r.prompt;
    s.gen = lm::sequence_generator(r.seed, r.stream_index);
    s.cache = model->make_cache(1, std::min(P + r.max_tokens, cfg.block_size), opts.kv_cache);
  } catch (const std::exception& e) {
    return retire(s, "error", e.what());
  }
}

// Spends this step's prefill budget on the sequences still prefilling, in
// admission order: at most prefill_chunk tokens in all (0: no limit).
void Engine::Impl::prefill() {
  int64_t budget = opts.prefill_chunk > 0 ? opts.prefill_chunk : std::numeric_limits<int64_t>::max();
  for (auto& s : running) {
    if (budget == 0) break;
    if (s->done || s->decoding) continue;
    const int64_t n = std::min(budget, s->prompt_left());
    budget -= n;
    prefill_chunk(*s, n);
  }
}

// Appends the next n prompt tokens to the sequence's cache; after the last
// chunk samples the first token. A failure (an id outside the vocabulary, an
// exception in the model) retires the sequence with "error".
void Engine::Impl::prefill_chunk(Sequence& s, int64_t n) {
  const int64_t V = model->config().vocab_size, from = s.cache.length;
  int32_t first = -1;
  try {
    std::vector<int64_t> ids(s.req.prompt.begin() + from, s.req.prompt.begin() + from + n);
    auto t0 = Clock::now();
    Tensor logits = model->forward(from_vector<int64_t>(ids, {1, n}), s.cache, /*last_only=*/true);  // (1, 1, V)
    add_busy(t0, n);
    if (s.prompt_left() > 0) return;  // more chunks to come
    Tensor row = logits.contiguous();
    first = lm::sample_token({row.data<float>(), static_cast<size_t>(V)}, s.sampling, s.gen, s.history);
  } catch (const std::exception& e) {
    return retire(s, "error", e.what());
  }
  s.decoding = true;
  accept(s, first);
}

// One batched step for every sequence past its prefill. If the batch throws,
// each sequence is run alone so that only the ones that fail retire with
// "error".
void Engine::Impl::decode() {
  batch.clear();
  tokens.clear();
  caches.clear();
  for (auto& s : running) {
    if (s->done || !s->decoding) continue;
    batch.push_back(s.get());
    tokens.push_back(s->last);
    caches.push_back(&s->cache);
  }
  if (batch.empty()) return;
  const int64_t V = model->config().vocab_size;
  auto t0 = Clock::now();
  Tensor logits;
  try {
    logits = model->decode_step(tokens, caches).contiguous();  // (B, V)
  } catch (const std::exception&) {
    add_busy(t0);
    for (Sequence* s : batch) {
      auto t1 = Clock::now();
      try {
        Tensor one = model->decode_step({s->last}, {&s->cache}).contiguous();
        add_busy(t1, 0, 1);
        sample_and_accept(*s, one.data<float>());
      } catch (const std::exception& e) {
        add_busy(t1);
        retire(*s, "error", e.what());
      }
    }
    return;
  }
  add_busy(t0, 0, 1);
  const float* p = logits.data<float>();
  for (size_t b = 0; b < batch.size(); ++b) sample_and_accept(*batch[b], p + b * V);
}

void Engine::Impl::sample_and_accept(Sequence& s, const float* logits) {
  int32_t id;
  try {
    id = lm::sample_token({logits, static_cast<size_t>(model->config().vocab_size)}, s.sampling, s.gen, s.history);
  } catch (const std::exception& e) {
    return retire(s, "error", e.what());
  }
  accept(s, id);
}

// Counts a sampled id, streams the text it made final, retires the sequence
// at a stop string, eot, max_tokens or the context's end.
void Engine::Impl::accept(Sequence& s, int32_t id) {
  s.last = id;
  s.history.push_back(id);
  int64_t n = ++s.result.completion_tokens;
  if (n == 1) s.result.first_token_seconds = seconds_between(s.submitted, Clock::now());
  {
    std::lock_guard lk(mu);
    ++stats.tokens_generated;
  }
  const bool last = n >= s.req.max_tokens || s.cache.length >= model->config().block_size;
  std::string_view piece = s.text->push(id, last);
  if (!piece.empty() && s.req.on_text) {
    try {
      s.req.on_text(piece, n);
    } catch (const std::exception& e) {
      return retire(s, "error", std::string("on_text callback threw: ") + e.what());
    }
  }
  if (s.text->ended()) retire(s, s.text->stopped() ? "stop" : "length");
}

void Engine::Impl::retire(Sequence& s, const char* reason, const std::string& error) {
  if (s.done) return;
  s.done = true;
  if (s.text) {
    std::string_view rest = s.text->finish();  // what was held back becomes final
    if (!rest.empty() && s.req.on_text) {
      try {
        s.req.on_text(rest, s.result.completion_tokens);
      } catch (...) {  // retiring anyway; on_done still follows
      }
    }
    s.result.text = std::string(s.text->text());
  }
  s.result.finish_reason = reason;
  s.result.error = error;
  s.result.total_seconds = seconds_between(s.submitted, Clock::now());
  s.cache = {};  // free the cache now, not when the step ends
  {
    std::lock_guard lk(mu);
    ++stats.sequences_finished;
    if (s.admitted) --stats.running;  // before on_done: a caller woken by it sees the engine's new state
  }
  if (s.req.on_done) {
    try {
      s.req.on_done(s.result);
    } catch (...) {  // the sequence is gone; nothing left to tell
    }
  }
}

}  // namespace tessera::serve
