// `tessera serve`: an OpenAI-compatible HTTP API over one GPT checkpoint, with
// API keys, plans, quotas and exact per-token metering (billing/ledger.h).
//
// Routes: POST /v1/completions, POST /v1/chat/completions, GET /v1/models,
// GET /health, GET /metrics (Prometheus text), POST /tokenize, POST /detokenize,
// and admin routes under /admin/ (need the admin key). HTTP is cpp-httplib
// (Debian libcpp-httplib-dev); generation is serve/engine.h (continuous
// batching); request/response JSON follows OpenAI's shapes, errors are
// {"error": {"message", "type", "param", "code"}} with 400/401/403/404/429/500/503.
//
// Metering order for every generating request: authenticate -> parse and
// validate -> tokenize -> clamp max_tokens to the plan and the context ->
// Ledger::reserve (429 when denied) -> engine -> Ledger::settle (actual tokens;
// a client that went away is charged what was generated) -> last byte of the
// response ([DONE] for streams). So every response a client saw complete has a
// committed ledger row.
#pragma once
#include <cstdint>
#include <string>

#include "tessera/serve/engine.h"

namespace tessera::serve {

struct ServerOptions {
  std::string checkpoint;            // checkpoint::load_gpt
  std::string tokenizer;             // optional override
  std::string model_name;            // the id clients send; default: the checkpoint folder's name
  std::string host = "127.0.0.1";
  int port = 8000;                   // 0: any free port (printed, and written to port_file)
  std::string port_file;             // when set: the bound port is written here once listening
  std::string db = "tessera.db";     // SQLite path or postgresql:// URL
  std::string instance;              // this process in the ledger; default host:port
  std::string admin_key;             // admin routes need "Authorization: Bearer <admin_key>"; empty = admin routes off
  size_t max_body_bytes = 1 << 20;   // 413 beyond
  int64_t max_prompt_tokens = 0;     // 0: the context
  int http_threads = 96;             // connections served at once
  EngineOptions engine;
};

// Loads the model, opens the ledger (recover() first), listens until SIGINT or
// SIGTERM, drains, and returns 0. Errors at start-up throw tessera::Error.
int run_server(const ServerOptions& options);

// The model id served when --model-name is not given: the checkpoint folder's
// name ("tessera" if it has none). `tessera cost` records costs under it too.
std::string default_model_name(const std::string& checkpoint);

}  // namespace tessera::serve
