// POST /v1/completions and /v1/chat/completions, in the metering order of
// tessera/serve/server.h, which completions() reads as: check -> reserve ->
// generate -> respond, where the response's last byte waits for the
// settlement (Job::finish). What each ending is charged: job.cpp. The
// response shapes: response_json.h.
//
// A non-streamed request's client that hangs up is noticed too (the body is
// chunked with whitespace heartbeats; see respond_whole) and charged as a
// streamed one's.
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

#include "serve/chat_template.h"
#include "serve/job.h"
#include "serve/service.h"
#include "tessera/lm/generate.h"

namespace tessera::serve {

using nlohmann::json;
using api::ApiError;
using Clock = std::chrono::steady_clock;

namespace {

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
    ids = lm::encode_prompt(tok, text, /*allow_special=*/true);  // with BOS where the tokenizer adds one
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

// A generation request that passed every check: what the engine runs and what
// the ledger reserves.
struct Service::CheckedRequest {
  api::GenerationRequest g;
  std::vector<int32_t> prompt;
  int64_t max_tokens = 0;           // clamped to the plan and the context
  std::string idempotency_key;
};

Service::CheckedRequest Service::check_completion(const httplib::Request& req, const billing::KeyInfo& key,
                                                  bool chat) const {
  CheckedRequest c;
  api::GenerationRequest& g = c.g;
  g = chat ? api::parse_chat_request(req.body) : api::parse_completion_request(req.body);
  if (g.model != model_id_)
    throw ApiError(404, "The model `" + g.model + "` does not exist or you do not have access to it.", "model",
                   "model_not_found");
  if (!key.plan.allows(g.model))
    throw ApiError(403, "Your plan '" + key.plan.name + "' does not include the model `" + g.model + "`.", "model",
                   "model_not_allowed");
  c.idempotency_key = req.get_header_value("Idempotency-Key");
  if (c.idempotency_key.size() > 255)
    throw ApiError(400, "Idempotency-Key is longer than 255 characters", "Idempotency-Key", "invalid_value");

  c.prompt = prompt_ids(g, *tokenizer_, tokenizer_->vocab_size());
  const int64_t prompt_tokens = static_cast<int64_t>(c.prompt.size());
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
  c.max_tokens = g.max_tokens.value_or(chat ? room : 16);
  if (key.plan.max_output_tokens > 0) c.max_tokens = std::min(c.max_tokens, key.plan.max_output_tokens);
  c.max_tokens = std::min(c.max_tokens, room);
  return c;
}

void Service::completions(const httplib::Request& req, httplib::Response& res, bool chat) {
  const auto arrival = Clock::now();
  billing::KeyInfo key = authenticate(req);
  const CheckedRequest c = check_completion(req, key, chat);
  const api::GenerationRequest& g = c.g;

  CompletionInfo info;
  info.chat = chat;
  info.id = random_id(chat ? "chatcmpl-" : "cmpl-");
  info.model = model_id_;
  info.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  info.include_usage = g.include_usage;
  info.prompt_tokens = static_cast<int64_t>(c.prompt.size());
  info.choices = g.n;
  auto job = std::make_shared<Job>(meter_, info);

  // 1. Reserve the worst case before the first token (durable), or answer
  //    without generating: an Idempotency-Key replay, or a denial.
  billing::Admission adm =
      meter_.reserve(key, info.id, model_id_, info.prompt_tokens, c.max_tokens, c.idempotency_key, g.n);
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
  job->set_reservation(*adm.reservation);
  set_rate_headers(res, adm);

  // 2. Generate: one engine sequence per choice.
  SequenceRequest choice;
  choice.prompt = c.prompt;
  choice.max_tokens = c.max_tokens;
  choice.sampling.temperature = g.temperature;
  choice.sampling.top_p = g.top_p;
  choice.sampling.top_k = g.top_k;
  if (model_vocab_ > tokenizer_->vocab_size()) choice.sampling.allowed_vocab = tokenizer_->vocab_size();
  choice.seed = g.seed.value_or(random_seed());
  choice.stop = g.stop;
  if (chat)
    for (auto& s : chat_implicit_stops()) choice.stop.push_back(s);
  if (!job->submit(*engine_, choice)) {
    job->stop(Ending::failed);
    res.set_header("retry-after", "1");
    throw ApiError(503, "The engine is currently overloaded (queue of " + std::to_string(engine_->options().max_queue) +
                            " full), please try again later",
                   "", "engine_overloaded", "server_error");
  }

  // 3. Respond while the choices generate; the last byte waits for the settlement.
  if (g.stream) respond_stream(res, job, arrival);
  else respond_whole(res, job, arrival);
}

void Service::record_timing(const Job& job, Clock::time_point arrival) {
  for (const auto& r : job.results())
    if (r.completion_tokens > 0) metrics_.observe_first_token(r.first_token_seconds);
  metrics_.observe_duration(std::chrono::duration<double>(Clock::now() - arrival).count());
  metrics_.sample_generated(engine_->stats().tokens_generated);
}

void Service::respond_whole(httplib::Response& res, std::shared_ptr<Job> job, Clock::time_point arrival) {
  // Chunked, so that a client that hangs up is noticed: while the choices
  // generate, a space (JSON allows leading whitespace) is written every
  // 250 ms; once the peer is gone a write fails and the sequences are
  // cancelled and charged what they generated. Status 200 is sent with the
  // headers, so an engine error after that comes as an error object in a 200.
  res.set_chunked_content_provider(
      "application/json",
      [this, job, arrival](size_t, httplib::DataSink& sink) -> bool {
        if (job->ended()) {
          sink.done();
          return true;
        }
        try {
          auto beat = Clock::now();
          while (!job->all_done()) {
            job->take_events(std::chrono::milliseconds(50));
            if (Clock::now() - beat >= std::chrono::milliseconds(250)) {
              beat = Clock::now();
              if (!sink.write(" ", 1)) {
                job->abandon();
                return false;
              }
            }
          }
          record_timing(*job, arrival);
          // Settled (durably) before the client sees the response.
          const std::optional<ApiError> error = job->finish();
          const std::string text = error ? dump_json(error->body()) : job->response_text();
          if (!sink.write(text.data(), text.size())) return false;
          sink.done();
          return true;
        } catch (const std::exception& e) {
          std::cerr << "serve: request " << job->info().id << " failed: " << e.what() << "\n";
          job->abandon();
          return false;
        }
      },
      // The response is released: if the provider never ran or stopped early,
      // cancel what is left and charge it.
      [job](bool) { job->abandon(); });
}

void Service::respond_stream(httplib::Response& res, std::shared_ptr<Job> job, Clock::time_point arrival) {
  // The provider runs on this connection's thread after the headers.
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, job, arrival](size_t, httplib::DataSink& sink) -> bool {
        if (job->ended()) {
          sink.done();
          return true;
        }
        try {
          const CompletionInfo& info = job->info();
          const json header = job->header("");
          bool client_ok = true;
          auto write = [&](const std::string& s) {
            if (client_ok) client_ok = sink.write(s.data(), s.size());
          };
          if (info.chat)
            for (size_t i = 0; i < static_cast<size_t>(info.choices); ++i)
              write(sse(stream_chunk(true, header, info.include_usage, i, nullptr, true, nullptr)));
          while (client_ok && !job->all_done()) {
            for (const ChoiceEvent& e : job->take_events(std::chrono::milliseconds(100))) {
              if (!e.done)
                write(sse(stream_chunk(info.chat, header, info.include_usage, e.index, &e.piece, false, nullptr)));
              else if (e.result.finish_reason != "error")
                write(sse(stream_chunk(info.chat, header, info.include_usage, e.index, nullptr, false,
                                       &e.result.finish_reason)));
            }
          }
          if (!client_ok) {
            job->abandon();
            return false;
          }
          record_timing(*job, arrival);
          // Settled (durably) before the client sees the end of the stream.
          if (const std::optional<ApiError> error = job->finish()) write(sse(error->body()));
          else if (info.include_usage) write(sse(usage_chunk(info.chat, header, job->usage())));
          write(kSseDone);
          if (!client_ok) return false;
          sink.done();
          return true;
        } catch (const std::exception& e) {
          std::cerr << "serve: stream " << job->info().id << " failed: " << e.what() << "\n";
          job->abandon();
          return false;
        }
      },
      [job](bool) { job->abandon(); });
}

}  // namespace tessera::serve
