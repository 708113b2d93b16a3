// The Service's construction, route table, authentication, and the routes
// that do not generate: /v1/models, /health, /metrics, /tokenize,
// /detokenize and the admin routes.
//
// Admin routes (Authorization: Bearer <admin key>):
//   GET  /admin/keys                 every key (prefix, name, account, plan, revoked; never the key text)
//   POST /admin/keys                 {"account", "plan", "name"} -> {"key": <shown once>, ...}
//   POST /admin/keys/revoke          {"key": <id or prefix>} -> {"revoked": true} (404 when unknown)
//   GET  /admin/usage?by=key|model|day&from=<unix s>&to=<unix s>
//   GET  /admin/plans                every plan
//   GET  /admin/counters             counters as kept and as recomputed from the ledger, open reservations
#include <chrono>
#include <iostream>
#include <random>

#include "serve/service.h"
#include "tessera/billing/json_views.h"
#include "tessera/core/error.h"
#include "tessera/lm/generate.h"

namespace tessera::serve {

using nlohmann::json;
using api::ApiError;

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump_json(e.body()), "application/json");
}

std::string random_id(const std::string& prefix) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += alphabet[rng() % (sizeof(alphabet) - 1)];
  return id;
}

namespace {

// The route label for metrics: a known route, else "other" (bounded label set).
std::string route_label(const std::string& path) {
  static const char* known[] = {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics",
                                "/tokenize", "/detokenize", "/admin/keys", "/admin/keys/revoke", "/admin/usage",
                                "/admin/plans", "/admin/counters"};
  for (const char* k : known)
    if (path == k) return k;
  return "other";
}

std::string bearer_token(const httplib::Request& req) {
  std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (h.size() <= prefix.size()) return "";
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return "";
  std::string key = h.substr(prefix.size());
  while (!key.empty() && key.back() == ' ') key.pop_back();
  while (!key.empty() && key.front() == ' ') key.erase(key.begin());
  return key;
}

// A key as OpenAI shows it in errors: its start and end only.
std::string masked(const std::string& key) {
  if (key.size() < 12) return "****";
  return key.substr(0, 6) + "****" + key.substr(key.size() - 4);
}

bool equal_constant_time(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(dump_json(j), "application/json");
}

// Messages for the statuses httplib answers itself (no body of ours yet).
ApiError library_error(const httplib::Request& req, int status, size_t max_body) {
  switch (status) {
    case 404:
      return ApiError(404, "Unknown request URL: " + req.method + " " + req.path + ".", "", "unknown_url");
    case 413:
      return ApiError(413, "the request body is larger than the limit of " + std::to_string(max_body) + " bytes",
                      "", "request_too_large");
    case 400:
      return ApiError(400, "malformed HTTP request", "", "invalid_request");
    default:
      return ApiError(status, "HTTP error " + std::to_string(status), "", "", status >= 500 ? "server_error"
                                                                                           : "invalid_request_error");
  }
}

int64_t number_param(const httplib::Request& req, const char* name, int64_t fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  try {
    size_t used = 0;
    int64_t x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw ApiError(400, std::string("query parameter '") + name + "' must be an integer, got '" + v + "'", name,
                 "invalid_value");
}

// A string field of an admin JSON body (required).
std::string body_string(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || !it->is_string() || it->get<std::string>().empty())
    throw ApiError(400, std::string("'") + name + "' (a non-empty string) is required", name,
                   "missing_required_parameter");
  return it->get<std::string>();
}

}  // namespace

Service::Service(const ServerOptions& options, std::string model_id, std::shared_ptr<models::GPT> model,
                 std::shared_ptr<const text::Tokenizer> tokenizer, std::unique_ptr<billing::Ledger> ledger)
    : options_(options),
      model_id_(std::move(model_id)),
      tokenizer_(tokenizer),
      block_size_(model->config().block_size),
      model_vocab_(model->config().vocab_size),
      ledger_(std::move(ledger)),
      meter_(*ledger_, ledger_mu_, metrics_) {
  engine_ = std::make_unique<Engine>(std::move(model), std::move(tokenizer), options.engine);
}

Service::~Service() = default;

httplib::Server::Handler Service::guard(void (Service::*handler)(const httplib::Request&, httplib::Response&)) {
  return [this, handler](const httplib::Request& req, httplib::Response& res) {
    res.status = 200;
    try {
      (this->*handler)(req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      std::cerr << "serve: " << req.method << " " << req.path << " failed: " << e.what() << "\n";
      send_error(res, ApiError(500, std::string("The server had an error while processing your request: ") + e.what(),
                               "", "server_error", "server_error"));
    }
  };
}

void Service::install(httplib::Server& svr) {
  auto gen = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      res.status = 200;
      try {
        completions(req, res, chat);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        std::cerr << "serve: " << req.path << " failed: " << e.what() << "\n";
        send_error(res, ApiError(500, std::string("The server had an error while processing your request: ") +
                                          e.what(),
                                 "", "server_error", "server_error"));
      }
    };
  };
  svr.Post("/v1/completions", gen(false));
  svr.Post("/v1/chat/completions", gen(true));
  svr.Get("/v1/models", guard(&Service::models));
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  svr.Get("/metrics", guard(&Service::metrics));
  svr.Post("/tokenize", guard(&Service::tokenize));
  svr.Post("/detokenize", guard(&Service::detokenize));
  svr.Get("/admin/keys", guard(&Service::admin_keys));
  svr.Post("/admin/keys", guard(&Service::admin_create_key));
  svr.Post("/admin/keys/revoke", guard(&Service::admin_revoke_key));
  svr.Get("/admin/usage", guard(&Service::admin_usage));
  svr.Get("/admin/plans", guard(&Service::admin_plans));
  svr.Get("/admin/counters", guard(&Service::admin_counters));

  const size_t max_body = options_.max_body_bytes;
  // Statuses httplib sets itself (404 no route, 413 body too large, 400 bad
  // HTTP) get an OpenAI error body too; ours already have one.
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(dump_json(library_error(req, res.status, max_body).body()), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  svr.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::cerr << "serve: " << req.method << " " << req.path << " failed: " << what << "\n";
    send_error(res, ApiError(500, "The server had an error while processing your request.", "", "server_error",
                             "server_error"));
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_.count_request(route_label(req.path), res.status);
  });
}

billing::KeyInfo Service::authenticate(const httplib::Request& req) {
  const std::string key = bearer_token(req);
  if (key.empty())
    throw ApiError(401,
                   "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                   "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                   "", "invalid_api_key");
  auto info = with_ledger([&](billing::Ledger& l) { return l.authenticate(key); });
  if (!info || info->revoked)
    throw ApiError(401, "Incorrect API key provided: " + masked(key) + ".", "", "invalid_api_key");
  return *info;
}

void Service::authorize_admin(const httplib::Request& req) {
  if (options_.admin_key.empty())
    throw ApiError(404, "admin routes are off (start the server with --admin-key or TESSERA_ADMIN_KEY)", "",
                   "unknown_url");
  const std::string key = bearer_token(req);
  if (equal_constant_time(key, options_.admin_key)) return;
  if (key.empty())
    throw ApiError(401, "admin routes need Authorization: Bearer <admin key>", "", "invalid_api_key");
  auto info = with_ledger([&](billing::Ledger& l) { return l.authenticate(key); });
  if (info && !info->revoked)
    throw ApiError(403, "this API key cannot use admin routes; they need the admin key", "", "insufficient_permissions");
  throw ApiError(401, "Incorrect API key provided: " + masked(key) + ".", "", "invalid_api_key");
}

void Service::models(const httplib::Request& req, httplib::Response& res) {
  authenticate(req);
  json m = {{"id", model_id_}, {"object", "model"}, {"created", 0}, {"owned_by", "tessera"},
            {"max_model_len", block_size_}};
  send_json(res, {{"object", "list"}, {"data", json::array({m})}});
}

void Service::metrics(const httplib::Request&, httplib::Response& res) {
  EngineStats s = engine_->stats();
  res.set_content(metrics_.render(s.waiting, s.running, s.tokens_generated), "text/plain; version=0.0.4");
}

void Service::tokenize(const httplib::Request& req, httplib::Response& res) {
  authenticate(req);
  json o = api::parse_json_object(req.body);
  for (auto it = o.begin(); it != o.end(); ++it)
    if (it.key() != "prompt" && it.key() != "text" && it.key() != "model" && it.key() != "add_special_tokens")
      throw ApiError(400, "Unrecognized request argument supplied: " + it.key(), it.key(), "unknown_parameter");
  if (o.contains("model") && o["model"] != model_id_)
    throw ApiError(404, "The model `" + dump_json(o["model"]) + "` does not exist.", "model", "model_not_found");
  const char* name = o.contains("prompt") ? "prompt" : "text";
  if (!o.contains(name) || !o[name].is_string())
    throw ApiError(400, "give the text to tokenize as a string 'prompt' (or 'text')", name, "invalid_value");
  std::vector<int32_t> ids;
  try {
    const bool special = !o.contains("add_special_tokens") || o["add_special_tokens"] != false;
    // The ids a completion would be charged for: BOS too where the tokenizer adds one.
    ids = special ? lm::encode_prompt(*tokenizer_, o[name].get<std::string>(), true)
                  : tokenizer_->encode(o[name].get<std::string>(), true);
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the text cannot be tokenized: ") + e.what(), name, "invalid_value");
  }
  send_json(res, {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", block_size_}});
}

void Service::detokenize(const httplib::Request& req, httplib::Response& res) {
  authenticate(req);
  json o = api::parse_json_object(req.body);
  for (auto it = o.begin(); it != o.end(); ++it)
    if (it.key() != "tokens" && it.key() != "model")
      throw ApiError(400, "Unrecognized request argument supplied: " + it.key(), it.key(), "unknown_parameter");
  if (o.contains("model") && o["model"] != model_id_)
    throw ApiError(404, "The model `" + dump_json(o["model"]) + "` does not exist.", "model", "model_not_found");
  if (!o.contains("tokens") || !o["tokens"].is_array())
    throw ApiError(400, "'tokens' (an array of token ids) is required", "tokens", "invalid_value");
  std::vector<int32_t> ids;
  const int64_t vocab = tokenizer_->vocab_size();
  for (const auto& t : o["tokens"]) {
    if (!t.is_number_integer() || (t.is_number_unsigned() && t.get<uint64_t>() >= static_cast<uint64_t>(vocab)) ||
        t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab)
      throw ApiError(400, "'tokens' holds token ids in [0, " + std::to_string(vocab) + "); got " + dump_json(t),
                     "tokens", "invalid_value");
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  send_json(res, {{"prompt", tokenizer_->decode(ids)}});
}

void Service::admin_keys(const httplib::Request& req, httplib::Response& res) {
  authorize_admin(req);
  json data = json::array();
  for (const auto& k : with_ledger([](billing::Ledger& l) { return l.keys(); })) data.push_back(billing::to_json(k));
  send_json(res, {{"object", "list"}, {"data", data}});
}

void Service::admin_create_key(const httplib::Request& req, httplib::Response& res) {
  authorize_admin(req);
  json o = api::parse_json_object(req.body);
  std::string account = body_string(o, "account"), plan = body_string(o, "plan");
  std::string name = o.contains("name") && o["name"].is_string() ? o["name"].get<std::string>() : "";
  billing::KeyInfo info;
  std::string key;
  try {
    key = with_ledger([&](billing::Ledger& l) { return l.create_key(account, plan, name, &info); });
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "plan", "invalid_value");
  }
  json j = billing::to_json(info);
  j["key"] = key;
  send_json(res, j, 201);
}

void Service::admin_revoke_key(const httplib::Request& req, httplib::Response& res) {
  authorize_admin(req);
  json o = api::parse_json_object(req.body);
  std::string key = body_string(o, "key");
  if (!with_ledger([&](billing::Ledger& l) { return l.revoke_key(key); }))
    throw ApiError(404, "no key with id or prefix '" + key + "'", "key", "key_not_found");
  send_json(res, {{"revoked", true}, {"key", key}});
}

void Service::admin_usage(const httplib::Request& req, httplib::Response& res) {
  authorize_admin(req);
  std::string by = req.has_param("by") ? req.get_param_value("by") : "key";
  if (by != "key" && by != "model" && by != "day")
    throw ApiError(400, "'by' is one of key, model, day; got '" + by + "'", "by", "invalid_value");
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t from = number_param(req, "from", 0), to = number_param(req, "to", now + 1);
  json data = json::array();
  for (const auto& r : with_ledger([&](billing::Ledger& l) { return l.usage(from, to, by); }))
    data.push_back({{"group", r.group},
                    {"requests", r.requests},
                    {"prompt_tokens", r.prompt_tokens},
                    {"completion_tokens", r.completion_tokens},
                    {"revenue_micros", r.revenue_micros},
                    {"cost_micros", r.cost_micros},
                    {"interrupted", r.interrupted},
                    {"cancelled", r.cancelled}});
  send_json(res, {{"object", "list"}, {"by", by}, {"from", from}, {"to", to}, {"data", data}});
}

void Service::admin_plans(const httplib::Request& req, httplib::Response& res) {
  authorize_admin(req);
  json data = json::array();
  for (const auto& p : with_ledger([](billing::Ledger& l) { return l.plans(); })) data.push_back(billing::to_json(p));
  send_json(res, {{"object", "list"}, {"data", data}});
}

void Service::admin_counters(const httplib::Request& req, httplib::Response& res) {
  authorize_admin(req);
  json j = with_ledger([](billing::Ledger& l) {
    return json{{"counters", billing::to_json(l.counters())},
                {"from_ledger", billing::to_json(l.counters_from_ledger())},
                {"open_reservations", l.open_reservations()}};
  });
  send_json(res, j);
}

}  // namespace tessera::serve
