// The request handlers behind `tessera serve` (server.h): one Service owns the
// tokenizer, the Engine, the Ledger and the metrics, and answers each route.
// server.cpp wires it to cpp-httplib and runs the process; this split keeps
// the HTTP plumbing (threads, signals, ports) out of the request logic.
//
// Handlers throw api::ApiError for every 4xx/5xx answer; Service::guard turns
// it (and any other exception) into OpenAI's error JSON.
#pragma once
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/meter.h"
#include "serve/metrics.h"
#include "serve/openai_api.h"
#include "serve/response_json.h"
#include "tessera/billing/ledger.h"
#include "tessera/serve/engine.h"
#include "tessera/serve/server.h"

namespace tessera::serve {

class Job;

class Service {
 public:
  Service(const ServerOptions& options, std::string model_id, std::shared_ptr<models::GPT> model,
          std::shared_ptr<const text::Tokenizer> tokenizer, std::unique_ptr<billing::Ledger> ledger);
  ~Service();

  // Registers every route, the error/exception handlers and the request logger.
  void install(httplib::Server& server);
  Engine& engine() { return *engine_; }

 private:
  // Generation (service_generate.cpp): check -> reserve -> generate -> settle
  // before the last byte.
  void completions(const httplib::Request& req, httplib::Response& res, bool chat);
  struct CheckedRequest;
  // Parses and validates the body, tokenizes the prompt, clamps max_tokens (4xx otherwise).
  CheckedRequest check_completion(const httplib::Request& req, const billing::KeyInfo& key, bool chat) const;
  // The response body, written while the choices generate: whole JSON
  // (with whitespace heartbeats) or server-sent events.
  void respond_whole(httplib::Response& res, std::shared_ptr<Job> job, std::chrono::steady_clock::time_point arrival);
  void respond_stream(httplib::Response& res, std::shared_ptr<Job> job,
                      std::chrono::steady_clock::time_point arrival);
  // Latency histograms and the generation-rate gauge, once every choice is done.
  void record_timing(const Job& job, std::chrono::steady_clock::time_point arrival);
  // Everything else (service_routes.cpp).
  void models(const httplib::Request& req, httplib::Response& res);
  void tokenize(const httplib::Request& req, httplib::Response& res);
  void detokenize(const httplib::Request& req, httplib::Response& res);
  void metrics(const httplib::Request& req, httplib::Response& res);
  void admin_keys(const httplib::Request& req, httplib::Response& res);
  void admin_create_key(const httplib::Request& req, httplib::Response& res);
  void admin_revoke_key(const httplib::Request& req, httplib::Response& res);
  void admin_usage(const httplib::Request& req, httplib::Response& res);
  void admin_plans(const httplib::Request& req, httplib::Response& res);
  void admin_counters(const httplib::Request& req, httplib::Response& res);

  // Authorization: Bearer <API key> -> the key; 401 otherwise.
  billing::KeyInfo authenticate(const httplib::Request& req);
  // Admin key -> ok; an API key -> 403; none / unknown -> 401; admin off -> 404.
  void authorize_admin(const httplib::Request& req);
  // Runs a handler, answering ApiError / exceptions with OpenAI's error JSON.
  httplib::Server::Handler guard(void (Service::*handler)(const httplib::Request&, httplib::Response&));
  // The ledger is used from every HTTP thread; one connection, one caller at a time.
  template <typename F>
  auto with_ledger(F&& f) {
    std::lock_guard<std::mutex> lock(ledger_mu_);
    return f(*ledger_);
  }

  ServerOptions options_;
  std::string model_id_;
  std::shared_ptr<const text::Tokenizer> tokenizer_;
  int64_t block_size_ = 0;
  int64_t model_vocab_ = 0;
  std::unique_ptr<billing::Ledger> ledger_;
  std::mutex ledger_mu_;
  Metrics metrics_;
  LedgerMeter meter_;               // the ledger (under ledger_mu_) for generating requests
  std::unique_ptr<Engine> engine_;  // last: destroyed (drained) first
};

// Writes `e` as the response: status, {"error": ...} JSON.
void send_error(httplib::Response& res, const api::ApiError& e);
// "cmpl-" + 24 random alphanumerics.
std::string random_id(const std::string& prefix);

}  // namespace tessera::serve
