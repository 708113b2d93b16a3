// The usage ledger: accounts on plans, API keys, versioned prices, and an
// append-only record of every request's reservation and settlement, stored in
// SQLite (a file path; WAL, synchronous=FULL) or PostgreSQL (a postgresql://
// or postgres:// URL). One schema and one implementation of the rules over
// both (billing/db.h is the driver seam).
//
// Money is integer micro-units (1e-6 of the currency), never floating point.
// Prices are micro-units per million tokens; a request's cost is
//   ceil((prompt_tokens * input_price + completion_tokens * output_price) / 1e6)
// computed in 128-bit integers.
//
// Flow of one request (the server's side):
//   authenticate(key)                       -> KeyInfo (account, plan) or nothing
//   reserve(key, request, model, prompt, max_tokens, idempotency)
//       one write transaction: checks the plan's limits against the account's
//       counters (committed usage + open reservations in the current period,
//       requests and tokens in the last 60 s, open requests) and, if they hold,
//       appends a 'reserve' row for prompt + max_tokens at the model's current
//       price version and adds it to the counters; durable (fsync'ed) before it
//       returns. Denied: code "insufficient_quota" (token quota or budget of the
//       period) or "rate_limit_exceeded" (requests/min, tokens/min, parallel),
//       with retry_after and the x-ratelimit-* figures.
//   settle(reservation, prompt, completion, status, response_json)
//       appends the 'commit' row with the actual tokens and cost at the
//       reservation's price version (never more than reserved: completion is
//       clamped to the reserved max_tokens), releases the rest from the
//       counters, stores response_json for Idempotency-Key replays. Durable
//       before it returns; the server sends [DONE] / the response after it.
//   recover() at start-up: every open reservation of this instance gets an
//       'interrupt' row charging its prompt tokens (what was recorded), and
//       the counters are rebuilt from the ledger rows.
//
// Quotas, budgets, rate limits and max_parallel apply to the account (all its
// keys together); counters are kept per key and summed per account. A period
// is the calendar day or month (UTC) or "total" (never resets).
//
// The ledger table (the audit trail; rows are only ever inserted):
//   ledger(id INTEGER PRIMARY KEY (BIGSERIAL in PostgreSQL), ts_ms BIGINT,
//          kind TEXT  -- 'reserve' | 'commit' | 'interrupt'
//          request_id TEXT, key_id BIGINT, account_id BIGINT, model TEXT,
//          price_version BIGINT, prompt_tokens BIGINT,
//          completion_tokens BIGINT  -- reserve: max_tokens reserved; else actual
//          cost_micros BIGINT        -- reserve: reserved cost; else charged
//          status TEXT               -- reserve: 'open'; commit: completed|cancelled|failed; interrupt: 'interrupted'
//          instance TEXT, idempotency_key TEXT, response_json TEXT)
// request_id is the response's id ("cmpl-..." / "chatcmpl-..."), so a client's
// record matches its row. A reservation is open while no commit/interrupt row
// has its request_id. Counters are a separate table kept in the same
// transaction as each insert (and rebuilt from these rows by recover()).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tessera::billing {

struct Plan {
  std::string name;
  std::string period = "month";    // "day" | "month" | "total"
  int64_t token_quota = 0;         // prompt + completion tokens per period; 0 = unlimited
  int64_t budget_micros = 0;       // spend per period; 0 = unlimited
  int64_t requests_per_minute = 0; // 0 = unlimited
  int64_t tokens_per_minute = 0;   // reserved tokens (prompt + max_tokens) per 60 s; 0 = unlimited
  int64_t max_parallel = 0;        // open requests at once; 0 = unlimited
  int64_t max_output_tokens = 0;   // max_tokens is clamped to this; 0 = no plan cap
  std::vector<std::string> allowed_models;  // empty = every model
  bool allows(const std::string& model) const;
};

struct Price {
  std::string model;
  int64_t version = 0;                  // 0: the model has no price (free; the server warns)
  int64_t input_micros_per_mtok = 0;    // per million prompt tokens
  int64_t output_micros_per_mtok = 0;   // per million completion tokens
  int64_t created_at = 0;               // unix seconds
};

// ceil((prompt * in + completion * out) / 1e6), exact (128-bit).
int64_t cost_micros(const Price& price, int64_t prompt_tokens, int64_t completion_tokens);

struct KeyInfo {
  int64_t key_id = 0;
  std::string key_prefix;   // first characters of the key, for lists and logs
  std::string name;
  int64_t account_id = 0;
  std::string account;
  Plan plan;
  bool revoked = false;
  int64_t created_at = 0;
};

struct Reservation {
  int64_t ledger_id = 0;          // the 'reserve' row
  std::string request_id;         // unique per request (the response id)
  int64_t key_id = 0, account_id = 0;
  std::string model;
  Price price;                    // the version charged
  int64_t prompt_tokens = 0;
  int64_t max_tokens = 0;         // after clamping
  int64_t reserved_micros = 0;    // cost of prompt + max_tokens
};

// What the server needs for 429s and x-ratelimit-* headers.
struct Admission {
  bool ok = false;
  std::string code;         // "" | "insufficient_quota" | "rate_limit_exceeded" | "idempotency_in_progress"
                            // | "model_not_allowed" (the plan does not list the model; the server answers 403)
  std::string message;      // names the limit and the figures
  double retry_after_seconds = 0;
  int64_t limit_requests = 0, remaining_requests = 0;   // per minute; 0 limit = unlimited
  int64_t limit_tokens = 0, remaining_tokens = 0;
  double reset_requests_seconds = 0, reset_tokens_seconds = 0;
  std::optional<Reservation> reservation;
  // Idempotency-Key seen before and settled: its stored response instead.
  std::optional<std::string> replay_response_json;
};

struct Settlement {
  int64_t ledger_id = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t cost_micros = 0;
};

// One row of the usage report.
struct UsageRow {
  std::string group;           // key prefix/name, model or YYYY-MM-DD
  int64_t requests = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t revenue_micros = 0;
  int64_t cost_micros = -1;    // from the measured cost (tessera cost); -1: not measured
  int64_t interrupted = 0, cancelled = 0;
};

// Counters of one key in the current period, as kept and as recomputed from
// the ledger rows (the load test compares the two).
struct KeyCounters {
  int64_t key_id = 0;
  int64_t tokens = 0, micros = 0;               // committed + open reservations
  int64_t open_requests = 0;
};

struct Cost {
  std::string model;
  double tokens_per_second = 0;       // measured by `tessera cost`
  int64_t hourly_price_micros = 0;    // given by the operator
  int64_t micros_per_mtok = 0;        // ceil(hourly / (tokens/s * 3600) * 1e6); usage() applies it to
                                      // completion (generated) tokens
  int64_t measured_at = 0;
};

class Ledger {
 public:
  // `db`: a SQLite file path (created with the schema when new) or a
  // postgresql:// URL. `instance` names this server process in its
  // reservations, so recover() only interrupts its own. Errors name the path
  // or URL (without the password) and the driver's message.
  static std::unique_ptr<Ledger> open(const std::string& db, const std::string& instance = "cli");
  virtual ~Ledger() = default;

  // Admin (the local CLI, or the server's admin routes).
  virtual void put_plan(const Plan& plan) = 0;                  // insert or replace by name
  virtual std::vector<Plan> plans() = 0;
  virtual std::optional<Plan> plan(const std::string& name) = 0;
  // New key for `account` (created on first use, on `plan`). Returns the key
  // text, shown once; only its SHA-256 is stored. Unknown plan: error.
  virtual std::string create_key(const std::string& account, const std::string& plan, const std::string& name,
                                 KeyInfo* info = nullptr) = 0;
  virtual std::vector<KeyInfo> keys() = 0;
  virtual bool revoke_key(const std::string& id_or_prefix) = 0;  // false: no such key
  // New price version for the model; older records keep the version they were charged.
  virtual Price set_price(const std::string& model, int64_t input_micros_per_mtok, int64_t output_micros_per_mtok) = 0;
  virtual Price current_price(const std::string& model) = 0;   // version 0 when none
  virtual std::vector<Price> prices() = 0;                     // every version
  virtual void set_cost(const Cost& cost) = 0;
  virtual std::optional<Cost> cost(const std::string& model) = 0;

  // Serving.
  virtual std::optional<KeyInfo> authenticate(const std::string& api_key) = 0;  // unknown or revoked: nothing
  // max_tokens is per choice: it is clamped to the plan's max_output_tokens,
  // then `choices` of them (OpenAI's n) are reserved with the prompt once, so
  // Reservation::max_tokens is the completion total the request may be charged.
  virtual Admission reserve(const KeyInfo& key, const std::string& request_id, const std::string& model,
                            int64_t prompt_tokens, int64_t max_tokens, const std::string& idempotency_key = "",
                            int64_t choices = 1) = 0;
  // status: "completed" | "cancelled" | "failed".
  virtual Settlement settle(const Reservation& r, int64_t prompt_tokens, int64_t completion_tokens,
                            const std::string& status, const std::string& response_json = "") = 0;
  // Start-up: interrupts this instance's open reservations (charging their
  // prompt tokens) and rebuilds every counter from the ledger. Returns how many
  // were interrupted.
  virtual int64_t recover() = 0;

  // Reports. from/to: unix seconds, [from, to). by: "key" | "model" | "day".
  virtual std::vector<UsageRow> usage(int64_t from, int64_t to, const std::string& by) = 0;
  virtual std::vector<KeyCounters> counters() = 0;             // as kept
  virtual std::vector<KeyCounters> counters_from_ledger() = 0; // recomputed
  virtual int64_t open_reservations() = 0;
};

}  // namespace tessera::billing
