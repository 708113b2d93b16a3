// `tessera serve` end to end: the built binary on a tiny GPT and a SQLite
// ledger, driven with cpp-httplib's client. Each test checks what a client
// sees (OpenAI shapes, statuses, headers, SSE framing) against what the ledger
// recorded (usage rows, open reservations).
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "serve/chat_template.h"
#include "tessera/billing/ledger.h"
#include "test_server_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;
using test_util::bearer;
using test_util::error_of;
using test_util::sse_events;

namespace {

constexpr int64_t kBlock = 64;
const char* kAdmin = "admin-secret-123";

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("tessera_serve_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    ckpt_ = test_util::write_tiny_checkpoint(root_, "tiny-run", kBlock);
    db_ = (root_ / "ledger.db").string();
    auto l = billing::Ledger::open(db_, "test");
    billing::Plan pro;
    pro.name = "pro";
    l->put_plan(pro);
    billing::Plan limited = pro;
    limited.name = "limited";
    limited.requests_per_minute = 2;
    l->put_plan(limited);
    billing::Plan quota = pro;
    quota.name = "quota";
    quota.token_quota = 10;
    l->put_plan(quota);
    billing::Plan other = pro;
    other.name = "other";
    other.allowed_models = {"some-other-model"};
    l->put_plan(other);
    billing::Plan tpm = pro;
    tpm.name = "tpm";
    tpm.tokens_per_minute = 20;
    l->put_plan(tpm);
    billing::Plan capped = pro;
    capped.name = "capped";
    capped.max_output_tokens = 3;
    l->put_plan(capped);
    for (const char* k : {"pro", "usage", "idem", "limited", "quota", "other", "capped", "tpm", "admin", "fuzz", "busy"})
      keys_[k] = l->create_key(std::string("acct-") + k, plan_of(k), k);
    l->set_price("tiny", 1000000, 2000000);  // 1 and 2 currency units per million tokens
    l.reset();
    server_ = new test_util::ServerProcess(root_, {"--checkpoint", ckpt_.string(), "--db", db_, "--model-name", "tiny",
                                                   "--admin-key", kAdmin, "--max-body-bytes", "4096", "--threads",
                                                   "1", "--http-threads", "8", "--max-batch", "4"});
    ASSERT_TRUE(server_->running()) << server_->log();
  }
  static void TearDownTestSuite() {
    if (server_) {
      int code = server_->stop();
      EXPECT_EQ(code, 0) << server_->log();
      EXPECT_NE(server_->log().find("drained"), std::string::npos) << server_->log();
      delete server_;
      server_ = nullptr;
    }
    // Nothing left open: every request was settled before its response ended.
    EXPECT_EQ(billing::Ledger::open(db_, "test")->open_reservations(), 0);
    fs::remove_all(root_);
  }
  static std::string plan_of(const std::string& k) {
    if (k == "limited" || k == "quota" || k == "other" || k == "capped" || k == "tpm") return k;
    return "pro";
  }

  httplib::Result post(const std::string& path, const std::string& key, const json& body,
                       httplib::Headers extra = {}) {
    auto c = server_->client();
    httplib::Headers h = bearer(key);
    h.insert(extra.begin(), extra.end());
    return c.Post(path.c_str(), h, body.dump(), "application/json");
  }
  // The ledger's usage by key for one key's name (its single group row).
  static billing::UsageRow usage_of(const std::string& name) {
    auto l = billing::Ledger::open(db_, "test");
    for (const auto& r : l->usage(0, 4102444800, "key"))
      if (r.group.find(name) != std::string::npos) return r;
    return {};
  }

  static fs::path root_, ckpt_;
  static std::string db_;
  static std::map<std::string, std::string> keys_;
  static test_util::ServerProcess* server_;
};
fs::path ServeTest::root_, ServeTest::ckpt_;
std::string ServeTest::db_;
std::map<std::string, std::string> ServeTest::keys_;
test_util::ServerProcess* ServeTest::server_ = nullptr;

}  // namespace

TEST_F(ServeTest, CompletionUsageEqualsTheLedgerRow) {
  auto r = post("/v1/completions", keys_["usage"],
                {{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", 6}, {"temperature", 0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(j["model"], "tiny");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_TRUE(j["choices"][0]["finish_reason"] == "length" || j["choices"][0]["finish_reason"] == "stop");
  const json& u = j["usage"];
  EXPECT_EQ(u["prompt_tokens"], 5);  // one token per character
  EXPECT_GE(u["completion_tokens"].get<int64_t>(), 1);
  EXPECT_LE(u["completion_tokens"].get<int64_t>(), 6);
  EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int64_t>() + u["completion_tokens"].get<int64_t>());

  billing::UsageRow row = usage_of("usage");
  EXPECT_EQ(row.requests, 1);
  EXPECT_EQ(row.prompt_tokens, u["prompt_tokens"].get<int64_t>());
  EXPECT_EQ(row.completion_tokens, u["completion_tokens"].get<int64_t>());
  billing::Price price{"tiny", 1, 1000000, 2000000, 0};
  EXPECT_EQ(row.revenue_micros, billing::cost_micros(price, row.prompt_tokens, row.completion_tokens));

  // Greedy is deterministic: the same request gives the same text.
  auto again = post("/v1/completions", keys_["pro"],
                    {{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", 6}, {"temperature", 0}});
  ASSERT_EQ(again->status, 200);
  EXPECT_EQ(json::parse(again->body)["choices"][0]["text"], j["choices"][0]["text"]);
}

TEST_F(ServeTest, CompletionParamsAndChoices) {
  // n choices, each its own sequence; usage sums them; prompt counted once.
  auto r = post("/v1/completions", keys_["pro"],
                {{"model", "tiny"}, {"prompt", json::array({"ab"})}, {"max_tokens", 4}, {"n", 3}, {"seed", 5}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_EQ(j["choices"].size(), 3u);
  int64_t sum = 0;
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(j["choices"][i]["index"], i);
  for (size_t i = 0; i < 3; ++i) EXPECT_LE(j["choices"][i]["text"].get<std::string>().size(), 4u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 2);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int64_t>(), 12);
  (void)sum;
  // Token-id prompts; the plan cap clamps max_tokens (capped plan: 3).
  auto capped = post("/v1/completions", keys_["capped"],
                     {{"model", "tiny"}, {"prompt", {1, 2, 3}}, {"max_tokens", 30}, {"temperature", 0}});
  ASSERT_EQ(capped->status, 200) << capped->body;
  json cj = json::parse(capped->body);
  EXPECT_EQ(cj["usage"]["prompt_tokens"], 3);
  EXPECT_LE(cj["usage"]["completion_tokens"].get<int64_t>(), 3);
  // With n = 3 the cap applies per choice: up to 9 tokens, all of them charged.
  const int64_t before = usage_of("capped").completion_tokens;
  auto capped3 = post("/v1/completions", keys_["capped"],
                      {{"model", "tiny"}, {"prompt", {1, 2, 3}}, {"max_tokens", 30}, {"n", 3}, {"temperature", 1}, {"seed", 5}});
  ASSERT_EQ(capped3->status, 200) << capped3->body;
  const int64_t got = json::parse(capped3->body)["usage"]["completion_tokens"].get<int64_t>();
  EXPECT_LE(got, 9);
  EXPECT_EQ(usage_of("capped").completion_tokens - before, got);
  // A token id outside the vocabulary.
  auto bad = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", {1, 100000}}});
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(error_of(bad)["param"], "prompt");
}

TEST_F(ServeTest, ChatCompletion) {
  json messages = json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}});
  auto r = post("/v1/chat/completions", keys_["pro"],
                {{"model", "tiny"}, {"messages", messages}, {"max_completion_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  // The prompt is the documented template.
  std::string rendered = serve::render_chat({{"system", "Be brief."}, {"user", "Hi"}});
  EXPECT_EQ(j["usage"]["prompt_tokens"], rendered.size());
  EXPECT_LE(j["usage"]["completion_tokens"].get<int64_t>(), 5);
  // Default max tokens: the rest of the context.
  auto full = post("/v1/chat/completions", keys_["pro"],
                   {{"model", "tiny"}, {"messages", messages}, {"temperature", 0}});
  ASSERT_EQ(full->status, 200) << full->body;
  json fj = json::parse(full->body);
  EXPECT_LE(fj["usage"]["total_tokens"].get<int64_t>(), kBlock);
  // Empty messages: 400 naming the param.
  auto empty = post("/v1/chat/completions", keys_["pro"], {{"model", "tiny"}, {"messages", json::array()}});
  EXPECT_EQ(empty->status, 400);
  EXPECT_EQ(error_of(empty)["param"], "messages");
}

TEST_F(ServeTest, StreamingFormat) {
  json req = {{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", 8}, {"temperature", 0}};
  auto plain = post("/v1/completions", keys_["pro"], req);
  ASSERT_EQ(plain->status, 200);
  json pj = json::parse(plain->body);

  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto r = post("/v1/completions", keys_["pro"], req);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 3u) << r->body;
  EXPECT_EQ(events.back(), "[DONE]");
  json usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"], pj["usage"]);
  std::string text, finish;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    json c = json::parse(events[i]);
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_EQ(c["id"], usage_chunk["id"]);
    EXPECT_TRUE(c["usage"].is_null());
    text += c["choices"][0]["text"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, pj["choices"][0]["text"]);
  EXPECT_EQ(finish, pj["choices"][0]["finish_reason"]);

  // Chat: the role opener, content deltas, finish_reason in the last choice chunk, no usage unless asked.
  auto chat = post("/v1/chat/completions", keys_["pro"],
                   {{"model", "tiny"},
                    {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                    {"max_tokens", 4},
                    {"stream", true}});
  ASSERT_EQ(chat->status, 200) << chat->body;
  auto ce = sse_events(chat->body);
  ASSERT_GE(ce.size(), 3u);
  EXPECT_EQ(ce.back(), "[DONE]");
  json first = json::parse(ce[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  json last = json::parse(ce[ce.size() - 2]);
  EXPECT_FALSE(last["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(last.contains("usage"));
}

TEST_F(ServeTest, AuthAndModelErrors) {
  json req = {{"model", "tiny"}, {"prompt", "hi"}, {"max_tokens", 1}};
  auto c = server_->client();
  auto none = c.Post("/v1/completions", req.dump(), "application/json");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(error_of(none)["code"], "invalid_api_key");
  auto wrong = post("/v1/completions", "sk-not-a-real-key-000000", req);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_NE(error_of(wrong)["message"].get<std::string>().find("Incorrect API key provided"), std::string::npos);
  // A revoked key.
  auto l = billing::Ledger::open(db_, "test");
  billing::KeyInfo info;
  std::string revoked = l->create_key("acct-revoked", "pro", "revoked", &info);
  ASSERT_EQ(post("/v1/completions", revoked, req)->status, 200);
  ASSERT_TRUE(l->revoke_key(std::to_string(info.key_id)) || l->revoke_key(info.key_prefix));
  EXPECT_EQ(post("/v1/completions", revoked, req)->status, 401);
  // The plan does not include the model: 403; an unknown model: 404.
  auto other = post("/v1/completions", keys_["other"], req);
  EXPECT_EQ(other->status, 403) << other->body;
  auto unknown = post("/v1/completions", keys_["pro"], {{"model", "gpt-4"}, {"prompt", "hi"}});
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(error_of(unknown)["code"], "model_not_found");
  // /v1/models names the served model.
  auto models = c.Get("/v1/models", bearer(keys_["pro"]));
  ASSERT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "tiny");
}

TEST_F(ServeTest, BadRequests) {
  auto c = server_->client();
  auto malformed = c.Post("/v1/completions", bearer(keys_["pro"]), "{\"model\": \"tiny\",", "application/json");
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(error_of(malformed)["type"], "invalid_request_error");
  auto neg = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", "hi"}, {"max_tokens", -1}});
  EXPECT_EQ(neg->status, 400);
  EXPECT_EQ(error_of(neg)["param"], "max_tokens");
  auto type = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", "hi"}, {"temperature", "x"}});
  EXPECT_EQ(error_of(type)["param"], "temperature");
  auto unsup = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", "hi"}, {"echo", true}});
  EXPECT_EQ(unsup->status, 400);
  EXPECT_NE(error_of(unsup)["message"].get<std::string>().find("not supported"), std::string::npos);
  // A character the tokenizer lacks.
  auto untok = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", "h\xc3\xa9"}});
  EXPECT_EQ(untok->status, 400);
  EXPECT_EQ(error_of(untok)["param"], "prompt");
  // Longer than the context allows: both numbers named.
  auto longp = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", std::string(100, 'a')}});
  EXPECT_EQ(longp->status, 400);
  std::string msg = error_of(longp)["message"];
  EXPECT_NE(msg.find("63"), std::string::npos) << msg;
  EXPECT_NE(msg.find("100"), std::string::npos) << msg;
  // Body larger than --max-body-bytes: 413 with a JSON error.
  auto big = post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", std::string(5000, 'a')}});
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(error_of(big)["code"], "request_too_large");
  // Unknown route.
  auto nowhere = c.Get("/v1/nowhere");
  EXPECT_EQ(nowhere->status, 404);
  error_of(nowhere);
}

TEST_F(ServeTest, IdempotencyReplaysAndChargesOnce) {
  json req = {{"model", "tiny"}, {"prompt", "abc"}, {"max_tokens", 5}};
  auto first = post("/v1/completions", keys_["idem"], req, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(first->status, 200) << first->body;
  auto second = post("/v1/completions", keys_["idem"], req, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(second->status, 200);
  EXPECT_EQ(second->body, first->body);
  EXPECT_EQ(second->get_header_value("Idempotent-Replayed"), "true");
  // Replayed as a stream: the same text, usage, [DONE].
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto streamed = post("/v1/completions", keys_["idem"], req, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(streamed->status, 200);
  auto ev = sse_events(streamed->body);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev.back(), "[DONE]");
  json fj = json::parse(first->body);
  EXPECT_EQ(json::parse(ev[ev.size() - 2])["usage"], fj["usage"]);
  std::string text;
  for (size_t i = 0; i + 2 < ev.size(); ++i) text += json::parse(ev[i])["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, fj["choices"][0]["text"]);
  billing::UsageRow row = usage_of("idem");
  EXPECT_EQ(row.requests, 1);
  EXPECT_EQ(row.completion_tokens, fj["usage"]["completion_tokens"].get<int64_t>());

  // A key whose request is still open (reserved, not settled): 409.
  auto l = billing::Ledger::open(db_, "test");
  auto key = l->authenticate(keys_["idem"]);
  ASSERT_TRUE(key);
  auto adm = l->reserve(*key, "cmpl-held-by-test", "tiny", 3, 5, "k-2");
  ASSERT_TRUE(adm.ok && adm.reservation);
  auto busy = post("/v1/completions", keys_["idem"], {{"model", "tiny"}, {"prompt", "abc"}},
                   {{"Idempotency-Key", "k-2"}});
  EXPECT_EQ(busy->status, 409) << busy->body;
  l->settle(*adm.reservation, 0, 0, "failed");
}

TEST_F(ServeTest, RateLimitAndQuota) {
  json req = {{"model", "tiny"}, {"prompt", "hi"}, {"max_tokens", 1}};
  ASSERT_EQ(post("/v1/completions", keys_["limited"], req)->status, 200);
  ASSERT_EQ(post("/v1/completions", keys_["limited"], req)->status, 200);
  auto limited = post("/v1/completions", keys_["limited"], req);
  ASSERT_EQ(limited->status, 429) << limited->body;
  EXPECT_EQ(error_of(limited)["code"], "rate_limit_exceeded");
  EXPECT_EQ(error_of(limited)["type"], "requests");
  int retry = std::stoi(limited->get_header_value("retry-after"));
  EXPECT_GE(retry, 1);
  EXPECT_EQ(limited->get_header_value("x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(limited->get_header_value("x-ratelimit-remaining-requests"), "0");
  EXPECT_FALSE(limited->get_header_value("x-ratelimit-reset-requests").empty());

  // Token quota 10: a request reserving more is refused as insufficient_quota.
  auto quota = post("/v1/completions", keys_["quota"], {{"model", "tiny"}, {"prompt", "hello"}, {"max_tokens", 20}});
  ASSERT_EQ(quota->status, 429) << quota->body;
  EXPECT_EQ(error_of(quota)["code"], "insufficient_quota");
  EXPECT_EQ(error_of(quota)["type"], "insufficient_quota");
  EXPECT_GE(std::stoi(quota->get_header_value("retry-after")), 1);

  // 20 tokens per minute: a request reserving 2 + 30 is a tokens rate limit;
  // a small one passes and its headers count down what is left of the minute.
  auto tokens = post("/v1/completions", keys_["tpm"], {{"model", "tiny"}, {"prompt", "hi"}, {"max_tokens", 30}});
  ASSERT_EQ(tokens->status, 429) << tokens->body;
  EXPECT_EQ(error_of(tokens)["code"], "rate_limit_exceeded");
  EXPECT_EQ(error_of(tokens)["type"], "tokens");
  EXPECT_GE(std::stoi(tokens->get_header_value("retry-after")), 1);
  EXPECT_EQ(tokens->get_header_value("x-ratelimit-limit-tokens"), "20");
  auto small = post("/v1/completions", keys_["tpm"], {{"model", "tiny"}, {"prompt", "hi"}, {"max_tokens", 3}});
  ASSERT_EQ(small->status, 200) << small->body;
  EXPECT_EQ(small->get_header_value("x-ratelimit-limit-tokens"), "20");
  EXPECT_EQ(small->get_header_value("x-ratelimit-remaining-tokens"), "15");  // 20 - (2 + 3) reserved
}

TEST_F(ServeTest, QueueFullIs503AndChargesNothing) {
  fs::path dir = root_ / "busy";
  fs::create_directories(dir);
  test_util::ServerProcess busy(dir, {"--checkpoint", ckpt_.string(), "--db", db_, "--model-name", "tiny",
                                      "--max-queue", "0", "--instance", "busy", "--threads", "1"});
  ASSERT_TRUE(busy.running()) << busy.log();
  auto c = busy.client();
  auto r = c.Post("/v1/completions", bearer(keys_["busy"]),
                  json{{"model", "tiny"}, {"prompt", "hi"}, {"max_tokens", 3}}.dump(), "application/json");
  ASSERT_EQ(r->status, 503) << r->body;
  EXPECT_GE(std::stoi(r->get_header_value("retry-after")), 1);
  EXPECT_EQ(error_of(r)["type"], "server_error");
  EXPECT_EQ(busy.stop(), 0);
  billing::UsageRow row = usage_of("busy");
  EXPECT_EQ(row.prompt_tokens + row.completion_tokens, 0);
  EXPECT_EQ(billing::Ledger::open(db_, "test")->open_reservations(), 0);
}

TEST_F(ServeTest, TokenizeRoundTripAndMetrics) {
  auto tok = post("/tokenize", keys_["pro"], {{"prompt", "Hello, world!"}});
  ASSERT_EQ(tok->status, 200) << tok->body;
  json tj = json::parse(tok->body);
  EXPECT_EQ(tj["count"], 13);
  auto detok = post("/detokenize", keys_["pro"], {{"tokens", tj["tokens"]}});
  ASSERT_EQ(detok->status, 200) << detok->body;
  EXPECT_EQ(json::parse(detok->body)["prompt"], "Hello, world!");
  EXPECT_EQ(post("/detokenize", keys_["pro"], {{"tokens", {-1}}})->status, 400);

  ASSERT_EQ(post("/v1/completions", keys_["pro"], {{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 2}})->status,
            200);
  auto c = server_->client();
  ASSERT_EQ(c.Get("/health")->status, 200);
  auto m = c.Get("/metrics");
  ASSERT_EQ(m->status, 200);
  // Every sample line is "name{labels} value" with a numeric value.
  std::map<std::string, double> samples;
  std::istringstream in(m->body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    samples[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  EXPECT_GE(samples["tessera_requests_total{route=\"/v1/completions\",status=\"200\"}"], 1);
  EXPECT_GE(samples["tessera_prompt_tokens_total"], 1);
  EXPECT_GE(samples["tessera_completion_tokens_total"], 1);
  for (const char* name : {"tessera_queue_depth", "tessera_running_sequences", "tessera_generation_tokens_per_second",
                           "tessera_request_duration_seconds_count", "tessera_time_to_first_token_seconds_count",
                           "tessera_request_duration_seconds_bucket{le=\"+Inf\"}"})
    EXPECT_TRUE(samples.count(name)) << name << "\n" << m->body;
  EXPECT_EQ(samples["tessera_request_duration_seconds_bucket{le=\"+Inf\"}"],
            samples["tessera_request_duration_seconds_count"]);
  EXPECT_GE(samples["tessera_request_duration_seconds_count"], 1);
}

TEST_F(ServeTest, AdminRoutes) {
  auto c = server_->client();
  EXPECT_EQ(c.Get("/admin/keys")->status, 401);
  EXPECT_EQ(c.Get("/admin/keys", bearer("wrong-admin-key"))->status, 401);
  EXPECT_EQ(c.Get("/admin/keys", bearer(keys_["pro"]))->status, 403);
  auto keys = c.Get("/admin/keys", bearer(kAdmin));
  ASSERT_EQ(keys->status, 200);
  EXPECT_GE(json::parse(keys->body)["data"].size(), 5u);
  EXPECT_EQ(keys->body.find(keys_["pro"]), std::string::npos);  // key texts are never listed
  auto made = c.Post("/admin/keys", bearer(kAdmin), json{{"account", "new"}, {"plan", "pro"}, {"name", "n"}}.dump(),
                     "application/json");
  ASSERT_EQ(made->status, 201) << made->body;
  std::string new_key = json::parse(made->body)["key"];
  EXPECT_EQ(post("/v1/completions", new_key, {{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 1}})->status, 200);
  auto usage = c.Get("/admin/usage?by=model", bearer(kAdmin));
  ASSERT_EQ(usage->status, 200) << usage->body;
  EXPECT_EQ(json::parse(usage->body)["data"][0]["group"], "tiny");
  EXPECT_EQ(c.Get("/admin/usage?by=nothing", bearer(kAdmin))->status, 400);
}

// Thousands of mutated bodies: every answer is JSON (or a finished SSE
// stream), never a 5xx, and the server stays healthy with nothing left open.
TEST_F(ServeTest, FuzzedBodies) {
  const std::vector<std::string> seeds = {
      R"({"model":"tiny","prompt":"hello","max_tokens":3,"temperature":0.5,"stop":["x"],"n":2})",
      R"({"model":"tiny","prompt":[1,2,3],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}})",
      R"({"model":"tiny","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}],"max_tokens":2})",
      R"({"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"stream":true,"max_tokens":2})",
  };
  const std::vector<std::string> values = {"\"str\"", "1e308", "-1", "99999999999999999999999", "null", "[]", "{}",
                                           "true", "0", "-0.0", std::string(200, '[') + std::string(200, ']'),
                                           "\"\xff\xfe\"", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "1.5", "9007199254740993"};
  const std::vector<std::string> keys_in = {"model", "prompt", "max_tokens", "temperature", "stop", "n", "stream",
                                            "messages", "top_p", "seed", "stream_options", "logprobs"};
  std::mt19937 rng(1234);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto c = server_->client();
  c.set_keep_alive(true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  int sent = 0, ok200 = 0;
  for (int i = 0; i < 3000 && std::chrono::steady_clock::now() < deadline; ++i) {
    std::string body = seeds[pick(seeds.size())];
    const bool chat = body.find("messages") != std::string::npos;
    int mutations = 1 + static_cast<int>(pick(3));
    for (int m = 0; m < mutations; ++m) {
      switch (pick(6)) {
        case 0:  // byte flip
          if (!body.empty()) body[pick(body.size())] ^= static_cast<char>(1 << pick(8));
          break;
        case 1:  // truncation
          body.resize(pick(body.size() + 1));
          break;
        case 2: {  // insert a random (often invalid UTF-8) byte
          body.insert(body.begin() + static_cast<std::ptrdiff_t>(pick(body.size() + 1)), static_cast<char>(rng()));
          break;
        }
        default: {  // replace a field's value (type swaps, huge numbers, deep nesting)
          std::string k = "\"" + keys_in[pick(keys_in.size())] + "\":";
          size_t at = body.find(k);
          const std::string& v = values[pick(values.size())];
          if (at == std::string::npos) {
            if (!body.empty() && body[0] == '{') body.insert(1, k + v + ",");
          } else {
            size_t start = at + k.size(), end = start;
            int depth = 0;
            bool in_str = false;
            for (; end < body.size(); ++end) {
              char ch = body[end];
              if (in_str) {
                if (ch == '\\') ++end;
                else if (ch == '"') in_str = false;
              } else if (ch == '"') in_str = true;
              else if (ch == '[' || ch == '{') ++depth;
              else if (ch == ']' || ch == '}') {
                if (depth == 0) break;
                --depth;
              } else if (ch == ',' && depth == 0) break;
            }
            body.replace(start, end - start, v);
          }
        }
      }
    }
    auto r = c.Post(chat ? "/v1/chat/completions" : "/v1/completions", bearer(keys_["fuzz"]), body,
                    "application/json");
    ASSERT_TRUE(r) << "no answer to: " << body;
    ++sent;
    ASSERT_LT(r->status, 500) << body << "\n-> " << r->body;
    if (r->status == 200 && r->get_header_value("Content-Type").find("text/event-stream") != std::string::npos) {
      ASSERT_EQ(sse_events(r->body).back(), "[DONE]") << body;
    } else {
      json j = json::parse(r->body, nullptr, false);
      ASSERT_TRUE(j.is_object()) << body << "\n-> " << r->body;
      if (r->status >= 400) {
        ASSERT_TRUE(j.contains("error")) << r->body;
      }
    }
    ok200 += r->status == 200;
  }
  std::cerr << "fuzz: " << sent << " bodies, " << ok200 << " answered 200\n";
  EXPECT_GT(sent, 200);
  EXPECT_GT(ok200, 0);  // some mutations stay valid and generate
  EXPECT_EQ(c.Get("/health")->status, 200);
  EXPECT_EQ(billing::Ledger::open(db_, "test")->open_reservations(), 0);
}

// A client that hangs up after the first bytes of the response, streamed or
// not: the server notices on a later write (SSE chunks; whitespace heartbeats
// for a plain response), cancels the sequences and settles "cancelled" with
// what was generated: never left open, never the full reservation. The model
// has no <|endoftext|> and 8 x 1000 tokens take seconds, so only the hang-up
// can end the request early.
TEST_F(ServeTest, ClientGoneIsCancelledAndSettled) {
  fs::path dir = root_ / "long";
  fs::create_directories(dir);
  fs::path ck = test_util::write_tiny_checkpoint(dir, "long-run", 1024, /*slow=*/true);
  test_util::ServerProcess longer(dir, {"--checkpoint", ck.string(), "--db", db_, "--model-name", "tiny",
                                        "--instance", "long", "--threads", "1"});
  ASSERT_TRUE(longer.running()) << longer.log();
  auto l = billing::Ledger::open(db_, "test");
  for (bool stream : {true, false}) {
    SCOPED_TRACE(stream ? "stream" : "plain");
    const std::string name = stream ? "gone-stream" : "gone-plain";
    std::string key = l->create_key("acct-" + name, "pro", name);
    std::string body = json{{"model", "tiny"}, {"prompt", "a"}, {"max_tokens", 1000}, {"n", 8},
                            {"temperature", 0}, {"stream", stream}}.dump();
    std::string request = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key +
                          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(longer.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    char buf[256];
    ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // the headers (and maybe a chunk) came
    ::close(fd);
    // Settled soon after the hang-up, while the generation had far to go.
    billing::UsageRow row;
    for (int i = 0; i < 300 && row.requests == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      row = usage_of(name);
    }
    EXPECT_EQ(row.requests, 1);
    EXPECT_EQ(row.cancelled, 1);
    EXPECT_LT(row.completion_tokens, 8000);
    std::cerr << (stream ? "stream" : "plain") << " client gone: charged " << row.prompt_tokens << "+"
              << row.completion_tokens << " tokens, cancelled=" << row.cancelled << "\n";
  }
  EXPECT_EQ(longer.stop(), 0) << longer.log();
  EXPECT_EQ(l->open_reservations(), 0);
}
