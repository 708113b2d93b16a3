// POST /v1/completions and /v1/chat/completions: the metering order of
// server.h, non-streamed and streamed (server-sent events).
//
// Charging rules (what settle() records; the response's usage is exactly it):
//   - completed: prompt tokens once (as OpenAI, even for n > 1 choices) plus
//     every sampled token of every choice (eot and stop-string tokens included:
//     the model computed them).
//   - client gone mid-stream: "cancelled", charged what was generated (the
//     prompt too when any choice was prefilled).
//   - engine queue full (503) or an engine error (500): "failed", charged 0.
//   - a non-streamed request's client that hangs up is noticed too (the body
//     is chunked with whitespace heartbeats; see below) and charged the same way.
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <random>

#include "serve/chat_template.h"
#include "serve/service.h"

namespace tessera::serve {

using nlohmann::json;
using api::ApiError;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kFingerprint = "fp_tessera";

// What the engine's callbacks hand to the connection's thread. The engine
// thread only appends and notifies (never waits on the client); the HTTP
// thread waits on the condition variable and drains the queue.
struct EventQueue {
  struct Event {
    size_t index = 0;
    bool done = false;
    std::string piece;
    SequenceResult result;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> events;
  size_t submitted = 0, finished = 0;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);

  void push(Event e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (e.done) ++finished;
      events.push_back(std::move(e));
    }
    cv.notify_all();
  }
  // Waits until an event is queued (or `timeout`) and takes all of them.
  std::deque<Event> take(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, timeout, [&] { return !events.empty(); });
    return std::exchange(events, {});
  }
  bool all_done() {
    std::lock_guard<std::mutex> lock(mu);
    return finished == submitted && events.empty();
  }
};

// One generating request from reservation to settlement.
struct Job {
  bool chat = false;
  std::string id, model;
  int64_t created = 0;
  bool include_usage = false;
  int64_t prompt_tokens = 0;
  billing::Reservation reservation;
  bool settled = false, finished = false;
  Clock::time_point start;
  std::shared_ptr<EventQueue> queue = std::make_shared<EventQueue>();
  std::vector<std::string> texts;
  std::vector<SequenceResult> results;
  std::vector<bool> done;
  // Settles through the Service (its ledger lock and metrics).
  std::function<void(Job&, int64_t prompt, int64_t completion, const std::string& status, const std::string& json)>
      settle_fn;

  void apply(EventQueue::Event& e) {
    if (!e.done) texts[e.index] += e.piece;
    else {
      results[e.index] = std::move(e.result);
      done[e.index] = true;
    }
  }
  // After cancelling: waits for every choice's on_done, applying what arrives.
  void drain() {
    while (!queue->all_done())
      for (auto& e : queue->take(std::chrono::milliseconds(50))) apply(e);
  }
  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const auto& r : results) n += r.completion_tokens;
    return n;
  }
  bool any_prefilled() const {
    for (const auto& r : results)
      if (r.completion_tokens > 0) return true;
    return false;
  }
  const SequenceResult* first_error() const {
    for (const auto& r : results)
      if (r.finish_reason == "error") return &r;
    return nullptr;
  }
  void settle(int64_t prompt, int64_t completion, const std::string& status, const std::string& response_json) {
    if (settled) return;
    settled = true;
    settle_fn(*this, prompt, completion, status, response_json);
  }
  // The client is gone (or the response was dropped): stop the sequences,
  // wait for them, charge what was generated. Never throws.
  void abandon() noexcept {
    if (finished) return;
    finished = true;
    try {
      queue->cancelled->store(true);
      drain();
      settle(any_prefilled() ? prompt_tokens : 0, completion_tokens(), "cancelled", "");
    } catch (const std::exception& e) {
      std::cerr << "serve: settling cancelled request " << id << " failed: " << e.what() << "\n";
    }
  }

  json usage() const {
    int64_t c = completion_tokens();
    return {{"prompt_tokens", prompt_tokens}, {"completion_tokens", c}, {"total_tokens", prompt_tokens + c}};
  }
  json header(const char* object) const {
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"system_fingerprint", kFingerprint}};
  }
  // The complete (non-streamed) response; also what an Idempotency-Key replays.
  json response() const {
    json j = header(chat ? "chat.completion" : "text_completion");
    json choices = json::array();
    for (size_t i = 0; i < texts.size(); ++i) {
      if (chat)
        choices.push_back({{"index", i},
                           {"message", {{"role", "assistant"}, {"content", texts[i]}, {"refusal", nullptr}}},
                           {"logprobs", nullptr},
                           {"finish_reason", results[i].finish_reason}});
      else
        choices.push_back({{"text", texts[i]},
                           {"index", i},
                           {"logprobs", nullptr},
                           {"finish_reason", results[i].finish_reason}});
    }
    j["choices"] = choices;
    j["usage"] = usage();
    return j;
  }
};

std::string sse(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

// One streamed chunk of choice `index`: a text piece, the chat role opener, or
// the final chunk carrying finish_reason.
json stream_chunk(bool chat, const json& header, bool include_usage, size_t index, const std::string* piece,
                  bool role_opener, const std::string* finish_reason) {
  json j = header;
  j["object"] = chat ? "chat.completion.chunk" : "text_completion";
  json choice;
  if (chat) {
    json delta = json::object();
    if (role_opener) delta = {{"role", "assistant"}, {"content", ""}};
    else if (piece) delta["content"] = *piece;
    choice = {{"index", index}, {"delta", delta}, {"logprobs", nullptr}};
  } else {
    choice = {{"text", piece ? *piece : std::string()}, {"index", index}, {"logprobs", nullptr}};
  }
  choice["finish_reason"] = finish_reason ? json(*finish_reason) : json(nullptr);
  j["choices"] = json::array({choice});
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk(bool chat, const json& header, const json& usage) {
  json j = header;
  j["object"] = chat ? "chat.completion.chunk" : "text_completion";
  j["choices"] = json::array();
  j["usage"] = usage;
  return j;
}

// A stored complete response replayed as a stream: per choice its opener (chat),
// its whole text and its finish_reason; then usage if asked; then [DONE].
std::string replay_as_stream(const json& r, bool include_usage) {
  bool chat = r.value("object", "") == "chat.completion";
  json header = {{"id", r.value("id", "")},
                 {"created", r.value("created", 0)},
                 {"model", r.value("model", "")},
                 {"system_fingerprint", kFingerprint}};
  std::string out;
  for (const auto& c : r.value("choices", json::array())) {
    size_t i = c.value("index", 0);
    std::string text = chat ? c["message"].value("content", "") : c.value("text", "");
    std::string fr = c.value("finish_reason", "stop");
    if (chat) out += sse(stream_chunk(true, header, include_usage, i, nullptr, true, nullptr));
    out += sse(stream_chunk(chat, header, include_usage, i, &text, false, nullptr));
    out += sse(stream_chunk(chat, header, include_usage, i, nullptr, false, &fr));
  }
  if (include_usage) out += sse(usage_chunk(chat, header, r.value("usage", json::object())));
  return out + "data: [DONE]\n\n";
}

// OpenAI's reset format: "20ms", "1.5s", "6m0s".
std::string reset_text(double seconds) {
  if (seconds < 1.0) return std::to_string(static_cast<int64_t>(std::ceil(seconds * 1000))) + "ms";
  if (seconds < 60.0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", seconds);
    return std::string(buf) + "s";
  }
  int64_t s = static_cast<int64_t>(std::ceil(seconds));
  return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

void set_rate_headers(httplib::Response& res, const billing::Admission& a) {
  if (a.limit_requests > 0) {
    res.set_header("x-ratelimit-limit-requests", std::to_string(a.limit_requests));
    res.set_header("x-ratelimit-remaining-requests", std::to_string(std::max<int64_t>(0, a.remaining_requests)));
    res.set_header("x-ratelimit-reset-requests", reset_text(a.reset_requests_seconds));
  }
  if (a.limit_tokens > 0) {
    res.set_header("x-ratelimit-limit-tokens", std::to_string(a.limit_tokens));
    res.set_header("x-ratelimit-remaining-tokens", std::to_string(std::max<int64_t>(0, a.remaining_tokens)));
    res.set_header("x-ratelimit-reset-tokens", reset_text(a.reset_tokens_seconds));
  }
}

// A denied reservation: 409 (idempotency key in flight) or 429 with OpenAI's types.
void send_denied(httplib::Response& res, const billing::Admission& a) {
  set_rate_headers(res, a);
  if (a.code == "idempotency_in_progress") {
    send_error(res, ApiError(409, a.message.empty() ? "a request with this Idempotency-Key is still in progress"
                                                    : a.message,
                             "", "idempotency_in_progress"));
    return;
  }
  if (a.code == "model_not_allowed") {
    send_error(res, ApiError(403, a.message, "model", "model_not_allowed"));
    return;
  }
  int64_t retry = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(a.retry_after_seconds)));
  res.set_header("retry-after", std::to_string(retry));
  if (a.code == "insufficient_quota") {
    send_error(res, ApiError(429, "You exceeded your current quota: " + a.message, "", "insufficient_quota",
                             "insufficient_quota"));
    return;
  }
  // OpenAI's type names the limit that was hit: "requests" or "tokens".
  bool requests = (a.limit_requests > 0 && a.remaining_requests <= 0) ||
                  a.message.find("parallel") != std::string::npos ||
                  (a.message.find("request") != std::string::npos && a.message.find("token") == std::string::npos);
  send_error(res, ApiError(429, "Rate limit reached: " + a.message, "", "rate_limit_exceeded",
                           requests ? "requests" : "tokens"));
}

std::vector<int32_t> prompt_ids(const api::GenerationRequest& g, const text::Tokenizer& tok, int64_t vocab) {
  std::vector<int32_t> ids;
  if (g.prompt_is_ids) {
    for (int64_t id : g.prompt_ids) {
      if (id < 0 || id >= vocab)
        throw ApiError(400, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                std::to_string(vocab) + ")",
                       "prompt", "invalid_value");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  const std::string text = g.chat ? render_chat(g.messages) : g.prompt_text;
  const char* param = g.chat ? "messages" : "prompt";
  try {
    ids = tok.encode(text, /*allow_special=*/true);
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the ") + param + " cannot be tokenized: " + e.what(), param, "invalid_value");
  }
  if (ids.empty()) {
    // As lm::generate: an empty prompt starts from <|endoftext|>.
    auto eot = tok.eot_id();
    if (!eot) throw ApiError(400, "the prompt is empty and the tokenizer has no <|endoftext|> to start from", param,
                             "invalid_value");
    ids.push_back(*eot);
  }
  return ids;
}

uint64_t random_seed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

}  // namespace

void Service::completions(const httplib::Request& req, httplib::Response& res, bool chat) {
  const auto start = Clock::now();
  billing::KeyInfo key = authenticate(req);
  api::GenerationRequest g = chat ? api::parse_chat_request(req.body) : api::parse_completion_request(req.body);
  if (g.model != model_id_)
    throw ApiError(404, "The model `" + g.model + "` does not exist or you do not have access to it.", "model",
                   "model_not_found");
  if (!key.plan.allows(g.model))
    throw ApiError(403, "Your plan '" + key.plan.name + "' does not include the model `" + g.model + "`.", "model",
                   "model_not_allowed");
  const std::string idempotency_key = req.get_header_value("Idempotency-Key");
  if (idempotency_key.size() > 255)
    throw ApiError(400, "Idempotency-Key is longer than 255 characters", "Idempotency-Key", "invalid_value");

  std::vector<int32_t> prompt = prompt_ids(g, *tokenizer_, tokenizer_->vocab_size());
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
  const int64_t prompt_limit =
      options_.max_prompt_tokens > 0 ? std::min(options_.max_prompt_tokens, block_size_ - 1) : block_size_ - 1;
  if (prompt_tokens > prompt_limit)
    throw ApiError(400, "This model's maximum prompt length is " + std::to_string(prompt_limit) +
                            " tokens (context " + std::to_string(block_size_) + "), however your prompt has " +
                            std::to_string(prompt_tokens) + " tokens.",
                   chat ? "messages" : "prompt", "context_length_exceeded");

  // Clamp: the request (default 16, or the rest of the context for chat), the
  // plan's cap, and the context left after the prompt.
  const int64_t room = block_size_ - prompt_tokens;
  int64_t max_tokens = g.max_tokens.value_or(chat ? room : 16);
  if (key.plan.max_output_tokens > 0) max_tokens = std::min(max_tokens, key.plan.max_output_tokens);
  max_tokens = std::min(max_tokens, room);

  auto job = std::make_shared<Job>();
  job->chat = chat;
  job->id = random_id(chat ? "chatcmpl-" : "cmpl-");
  job->model = model_id_;
  job->created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                     .count();
  job->include_usage = g.include_usage;
  job->prompt_tokens = prompt_tokens;
  job->start = start;
  job->texts.resize(static_cast<size_t>(g.n));
  job->results.resize(static_cast<size_t>(g.n));
  job->done.resize(static_cast<size_t>(g.n), false);
  job->settle_fn = [this](Job& j, int64_t p, int64_t c, const std::string& status, const std::string& response) {
    billing::Settlement s =
        with_ledger([&](billing::Ledger& l) { return l.settle(j.reservation, p, c, status, response); });
    if (s.prompt_tokens != p || s.completion_tokens != c)
      std::cerr << "serve: warning: ledger settled " << j.id << " as " << s.prompt_tokens << "+"
                << s.completion_tokens << " tokens, the response said " << p << "+" << c << "\n";
    metrics_.add_tokens(s.prompt_tokens, s.completion_tokens);
  };

  billing::Admission adm = with_ledger([&](billing::Ledger& l) {
    return l.reserve(key, job->id, model_id_, prompt_tokens, max_tokens, idempotency_key, g.n);
  });
  if (adm.replay_response_json) {
    json stored = json::parse(*adm.replay_response_json, nullptr, false);
    if (stored.is_discarded() || !stored.is_object())
      throw ApiError(409, "the earlier request with this Idempotency-Key ended without a complete response", "",
                     "idempotency_key_reused");
    res.set_header("Idempotent-Replayed", "true");
    if (g.stream) res.set_content(replay_as_stream(stored, g.include_usage), "text/event-stream");
    else res.set_content(*adm.replay_response_json, "application/json");
    return;
  }
  if (!adm.ok || !adm.reservation) {
    send_denied(res, adm);
    return;
  }
  job->reservation = *adm.reservation;
  set_rate_headers(res, adm);

  // One engine sequence per choice; choice i draws from stream index i.
  const uint64_t seed = g.seed.value_or(random_seed());
  std::vector<std::string> stop = g.stop;
  if (chat)
    for (auto& s : chat_implicit_stops()) stop.push_back(s);
  bool queued_all = true;
  for (int64_t i = 0; i < g.n && queued_all; ++i) {
    SequenceRequest s;
    s.prompt = prompt;
    s.max_tokens = max_tokens;
    s.sampling.temperature = g.temperature;
    s.sampling.top_p = g.top_p;
    s.sampling.top_k = g.top_k;
    if (model_vocab_ > tokenizer_->vocab_size()) s.sampling.allowed_vocab = tokenizer_->vocab_size();
    s.seed = seed;
    s.stream_index = static_cast<uint64_t>(i);
    s.stop = stop;
    s.cancelled = job->queue->cancelled;
    std::weak_ptr<EventQueue> wq = job->queue;
    const size_t index = static_cast<size_t>(i);
    s.on_text = [wq, index](std::string_view piece, int64_t) {
      if (auto q = wq.lock()) q->push({index, false, std::string(piece), {}});
    };
    s.on_done = [wq, index](const SequenceResult& r) {
      if (auto q = wq.lock()) q->push({index, true, {}, r});
    };
    {
      std::lock_guard<std::mutex> lock(job->queue->mu);
      ++job->queue->submitted;
    }
    if (!engine_->submit(std::move(s))) {
      std::lock_guard<std::mutex> lock(job->queue->mu);
      --job->queue->submitted;
      queued_all = false;
    }
  }
  if (!queued_all) {
    job->queue->cancelled->store(true);
    job->drain();
    job->finished = true;
    job->settle(0, 0, "failed", "");
    res.set_header("retry-after", "1");
    throw ApiError(503, "The engine is currently overloaded (queue of " + std::to_string(engine_->options().max_queue) +
                            " full), please try again later",
                   "", "engine_overloaded", "server_error");
  }

  auto record_timing = [this](Job& j) {
    for (const auto& r : j.results)
      if (r.completion_tokens > 0) metrics_.observe_first_token(r.first_token_seconds);
    metrics_.observe_duration(std::chrono::duration<double>(Clock::now() - j.start).count());
    metrics_.sample_generated(engine_->stats().tokens_generated);
  };

  if (!g.stream) {
    // Chunked, so that a client that hangs up is noticed: while the choices
    // generate, a space (JSON allows leading whitespace) is written every
    // 250 ms; once the peer is gone a write fails and the sequences are
    // cancelled and charged what they generated. Status 200 is sent with the
    // headers, so an engine error after that comes as an error object in a 200.
    res.set_chunked_content_provider(
        "application/json",
        [job, record_timing](size_t, httplib::DataSink& sink) -> bool {
          if (job->finished) {
            sink.done();
            return true;
          }
          try {
            auto beat = Clock::now();
            while (!job->queue->all_done()) {
              for (auto& e : job->queue->take(std::chrono::milliseconds(50))) job->apply(e);
              if (Clock::now() - beat >= std::chrono::milliseconds(250)) {
                beat = Clock::now();
                if (!sink.write(" ", 1)) {
                  job->abandon();
                  return false;
                }
              }
            }
            job->finished = true;
            record_timing(*job);
            std::string text;
            if (const SequenceResult* err = job->first_error()) {
              job->settle(0, 0, "failed", "");
              text = dump_json(ApiError(500, "generation failed: " + err->error, "", "server_error", "server_error").body());
            } else {
              text = dump_json(job->response());
              // Settled (durably) before the client sees the response.
              job->settle(job->prompt_tokens, job->completion_tokens(), "completed", text);
            }
            if (!sink.write(text.data(), text.size())) return false;
            sink.done();
            return true;
          } catch (const std::exception& e) {
            std::cerr << "serve: request " << job->id << " failed: " << e.what() << "\n";
            job->abandon();
            return false;
          }
        },
        [job](bool) { job->abandon(); });
    return;
  }

  // Streamed: the provider runs on this connection's thread after the headers.
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, record_timing](size_t, httplib::DataSink& sink) -> bool {
        if (job->finished) {
          sink.done();
          return true;
        }
        try {
          const json header = job->header("");
          bool client_ok = true;
          auto write = [&](const std::string& s) {
            if (client_ok) client_ok = sink.write(s.data(), s.size());
          };
          if (job->chat)
            for (size_t i = 0; i < job->texts.size(); ++i)
              write(sse(stream_chunk(true, header, job->include_usage, i, nullptr, true, nullptr)));
          while (client_ok && !job->queue->all_done()) {
            for (auto& e : job->queue->take(std::chrono::milliseconds(100))) {
              const size_t i = e.index;
              const bool done = e.done;
              const std::string piece = e.piece;
              job->apply(e);
              if (!done) {
                write(sse(stream_chunk(job->chat, header, job->include_usage, i, &piece, false, nullptr)));
              } else if (job->results[i].finish_reason != "error") {
                write(sse(stream_chunk(job->chat, header, job->include_usage, i, nullptr, false,
                                       &job->results[i].finish_reason)));
              }
            }
          }
          if (!client_ok) {
            job->abandon();
            return false;
          }
          job->finished = true;
          record_timing(*job);
          if (const SequenceResult* err = job->first_error()) {
            job->settle(0, 0, "failed", "");
            write(sse(ApiError(500, "generation failed: " + err->error, "", "server_error", "server_error").body()));
          } else {
            // Settled (durably) before the client sees the end of the stream.
            job->settle(job->prompt_tokens, job->completion_tokens(), "completed", dump_json(job->response()));
            if (job->include_usage) write(sse(usage_chunk(job->chat, header, job->usage())));
          }
          write("data: [DONE]\n\n");
          if (!client_ok) return false;
          sink.done();
          return true;
        } catch (const std::exception& e) {
          std::cerr << "serve: stream " << job->id << " failed: " << e.what() << "\n";
          job->abandon();
          return false;
        }
      },
      // The response is released: if the provider never ran or stopped early,
      // cancel what is left and charge it.
      [job](bool) { job->abandon(); });
}

}  // namespace tessera::serve
