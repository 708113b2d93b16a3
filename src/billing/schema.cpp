// One schema for both dialects; only the auto-increment id column differs.
// The ledger table's columns are part of the contract (tessera/billing/ledger.h):
// load tests and auditors read them directly.
#include "billing/schema.h"

#include <string>
#include <vector>

#include "tessera/core/error.h"

namespace tessera::billing {

void ensure_schema(db::Connection& c) {
  const std::string id =
      c.dialect() == db::Dialect::postgres ? "id BIGSERIAL PRIMARY KEY" : "id INTEGER PRIMARY KEY";
  const std::vector<std::string> ddl = {
      "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
      "CREATE TABLE IF NOT EXISTS plans (name TEXT PRIMARY KEY, period TEXT NOT NULL, token_quota BIGINT NOT NULL, "
      "budget_micros BIGINT NOT NULL, requests_per_minute BIGINT NOT NULL, tokens_per_minute BIGINT NOT NULL, "
      "max_parallel BIGINT NOT NULL, max_output_tokens BIGINT NOT NULL, allowed_models TEXT NOT NULL, "
      "updated_at BIGINT NOT NULL)",
      "CREATE TABLE IF NOT EXISTS accounts (" + id + ", name TEXT NOT NULL UNIQUE, "
      "plan TEXT NOT NULL REFERENCES plans(name), created_at BIGINT NOT NULL)",
      "CREATE TABLE IF NOT EXISTS api_keys (" + id + ", key_hash TEXT NOT NULL UNIQUE, key_prefix TEXT NOT NULL, "
      "name TEXT NOT NULL, account_id BIGINT NOT NULL REFERENCES accounts(id), created_at BIGINT NOT NULL, "
      "revoked_at BIGINT)",
      "CREATE TABLE IF NOT EXISTS prices (model TEXT NOT NULL, version BIGINT NOT NULL, "
      "input_micros_per_mtok BIGINT NOT NULL, output_micros_per_mtok BIGINT NOT NULL, created_at BIGINT NOT NULL, "
      "PRIMARY KEY (model, version))",
      "CREATE TABLE IF NOT EXISTS costs (model TEXT PRIMARY KEY, tokens_per_second TEXT NOT NULL, "
      "hourly_price_micros BIGINT NOT NULL, micros_per_mtok BIGINT NOT NULL, measured_at BIGINT NOT NULL)",
      "CREATE TABLE IF NOT EXISTS ledger (" + id + ", ts_ms BIGINT NOT NULL, kind TEXT NOT NULL, "
      "request_id TEXT NOT NULL, key_id BIGINT NOT NULL, account_id BIGINT NOT NULL, model TEXT NOT NULL, "
      "price_version BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, "
      "cost_micros BIGINT NOT NULL, status TEXT NOT NULL, instance TEXT NOT NULL, idempotency_key TEXT, "
      "response_json TEXT)",
      // One reserve and one closing row per request (settle/recover check which closes it).
      "CREATE UNIQUE INDEX IF NOT EXISTS ledger_request ON ledger (request_id, kind)",
      "CREATE INDEX IF NOT EXISTS ledger_account_ts ON ledger (account_id, ts_ms)",
      "CREATE INDEX IF NOT EXISTS ledger_idempotency ON ledger (key_id, idempotency_key)",
      "CREATE INDEX IF NOT EXISTS ledger_ts ON ledger (ts_ms)",
      // Usage of one key in one period (by the reserve row's time): committed + open, and open requests.
      "CREATE TABLE IF NOT EXISTS counters (key_id BIGINT NOT NULL, period_start BIGINT NOT NULL, "
      "account_id BIGINT NOT NULL, tokens BIGINT NOT NULL, micros BIGINT NOT NULL, open_requests BIGINT NOT NULL, "
      "PRIMARY KEY (key_id, period_start))",
      "CREATE INDEX IF NOT EXISTS counters_account ON counters (account_id, period_start)",
  };
  db::WriteTxn txn(c);
  c.lock_schema();
  for (const auto& sql : ddl) c.query(sql);
  auto rows = c.query("SELECT MAX(version) FROM schema_version");
  int64_t have = rows.empty() ? 0 : db::to_i64(rows[0][0], 0);
  TSR_CHECK(have <= kSchemaVersion, Error, "ledger '", c.where(), "': schema version ", have,
            " is newer than this Tessera's (", kSchemaVersion, "); upgrade Tessera");
  if (have == 0) c.query("INSERT INTO schema_version (version) VALUES (?)", {db::num(kSchemaVersion)});
  txn.commit();
}

}  // namespace tessera::billing
