// Opening a ledger and its admin side: plans, accounts and keys, prices, costs.
#include <chrono>
#include <sstream>

#include "billing/keys.h"
#include "billing/schema.h"
#include "billing/sql_ledger.h"
#include "tessera/billing/money.h"
#include "tessera/core/error.h"

namespace tessera::billing {

using db::num;
using db::to_i64;
using db::to_str;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr const char* kPlanColumns =
    "p.name, p.period, p.token_quota, p.budget_micros, p.requests_per_minute, p.tokens_per_minute, p.max_parallel, "
    "p.max_output_tokens, p.allowed_models";

Plan plan_from(const db::Row& r, size_t at = 0) {
  Plan p;
  p.name = to_str(r[at]);
  p.period = to_str(r[at + 1]);
  p.token_quota = to_i64(r[at + 2]);
  p.budget_micros = to_i64(r[at + 3]);
  p.requests_per_minute = to_i64(r[at + 4]);
  p.tokens_per_minute = to_i64(r[at + 5]);
  p.max_parallel = to_i64(r[at + 6]);
  p.max_output_tokens = to_i64(r[at + 7]);
  std::stringstream models(to_str(r[at + 8]));
  for (std::string m; std::getline(models, m, ',');)
    if (!m.empty()) p.allowed_models.push_back(m);
  return p;
}

Price price_from(const db::Row& r) {
  Price p;
  p.model = to_str(r[0]);
  p.version = to_i64(r[1]);
  p.input_micros_per_mtok = to_i64(r[2]);
  p.output_micros_per_mtok = to_i64(r[3]);
  p.created_at = to_i64(r[4]);
  return p;
}

}  // namespace

std::unique_ptr<Ledger> Ledger::open(const std::string& db, const std::string& instance) {
  TSR_CHECK(!db.empty(), Error, "ledger: empty database path (give a SQLite file or a postgresql:// URL)");
  auto c = db::is_postgres_url(db) ? db::open_postgres(db) : db::open_sqlite(db);
  ensure_schema(*c);
  return std::make_unique<SqlLedger>(std::move(c), instance);
}

SqlLedger::SqlLedger(std::unique_ptr<db::Connection> c, std::string instance)
    : c_(std::move(c)), instance_(std::move(instance)) {}

std::optional<Plan> SqlLedger::plan_locked(const std::string& name) {
  auto rows = c_->query(std::string("SELECT ") + kPlanColumns + " FROM plans p WHERE p.name = ?", {name});
  if (rows.empty()) return std::nullopt;
  return plan_from(rows[0]);
}

std::optional<Plan> SqlLedger::account_plan(int64_t account_id) {
  auto rows = c_->query(
      std::string("SELECT ") + kPlanColumns + " FROM accounts a JOIN plans p ON p.name = a.plan WHERE a.id = ?",
      {num(account_id)});
  if (rows.empty()) return std::nullopt;
  return plan_from(rows[0]);
}

void SqlLedger::put_plan(const Plan& plan) {
  TSR_CHECK(!plan.name.empty(), Error, "plan: empty name");
  TSR_CHECK(plan.period == "day" || plan.period == "month" || plan.period == "total", Error, "plan '", plan.name,
            "': period '", plan.period, "' (expected day, month or total)");
  for (int64_t v : {plan.token_quota, plan.budget_micros, plan.requests_per_minute, plan.tokens_per_minute,
                    plan.max_parallel, plan.max_output_tokens})
    TSR_CHECK(v >= 0, Error, "plan '", plan.name, "': limits must be >= 0 (0 = unlimited), got ", v);
  std::string models;
  for (const auto& m : plan.allowed_models) {
    TSR_CHECK(!m.empty() && m.find(',') == std::string::npos, Error, "plan '", plan.name, "': bad model name '", m,
              "'");
    models += (models.empty() ? "" : ",") + m;
  }
  std::lock_guard lock(mu_);
  db::WriteTxn txn(*c_);
  c_->lock_everything();
  auto old = plan_locked(plan.name);
  c_->query(
      "INSERT INTO plans (name, period, token_quota, budget_micros, requests_per_minute, tokens_per_minute, "
      "max_parallel, max_output_tokens, allowed_models, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (name) DO UPDATE SET period = excluded.period, token_quota = excluded.token_quota, "
      "budget_micros = excluded.budget_micros, requests_per_minute = excluded.requests_per_minute, "
      "tokens_per_minute = excluded.tokens_per_minute, max_parallel = excluded.max_parallel, "
      "max_output_tokens = excluded.max_output_tokens, allowed_models = excluded.allowed_models, "
      "updated_at = excluded.updated_at",
      {plan.name, plan.period, num(plan.token_quota), num(plan.budget_micros), num(plan.requests_per_minute),
       num(plan.tokens_per_minute), num(plan.max_parallel), num(plan.max_output_tokens), models,
       num(now_ms() / 1000)});
  // Counters are kept per period; a new period length regroups them.
  if (old && old->period != plan.period) rebuild_counters();
  txn.commit();
}

std::vector<Plan> SqlLedger::plans() {
  std::lock_guard lock(mu_);
  std::vector<Plan> out;
  for (const auto& r : c_->query(std::string("SELECT ") + kPlanColumns + " FROM plans p ORDER BY p.name"))
    out.push_back(plan_from(r));
  return out;
}

std::optional<Plan> SqlLedger::plan(const std::string& name) {
  std::lock_guard lock(mu_);
  return plan_locked(name);
}

std::string SqlLedger::create_key(const std::string& account, const std::string& plan_name, const std::string& name,
                                  KeyInfo* info) {
  TSR_CHECK(!account.empty(), Error, "create key: empty account name");
  std::lock_guard lock(mu_);
  db::WriteTxn txn(*c_);
  c_->lock_everything();
  auto plan = plan_locked(plan_name);
  if (!plan) {
    std::string known;
    for (const auto& r : c_->query("SELECT name FROM plans ORDER BY name")) known += (known.empty() ? "" : ", ") + to_str(r[0]);
    throw Error("create key: unknown plan '" + plan_name + "' (plans: " + (known.empty() ? "none yet; see tessera plans set" : known) + ")");
  }
  int64_t now_s = now_ms() / 1000;
  auto acc = c_->query("SELECT a.id, p.period FROM accounts a JOIN plans p ON p.name = a.plan WHERE a.name = ?",
                       {account});
  int64_t account_id;
  if (acc.empty()) {
    account_id = to_i64(c_->query("INSERT INTO accounts (name, plan, created_at) VALUES (?, ?, ?) RETURNING id",
                                  {account, plan_name, num(now_s)})[0][0]);
  } else {
    // The operator named the plan: the account (all its keys) moves to it.
    account_id = to_i64(acc[0][0]);
    c_->query("UPDATE accounts SET plan = ? WHERE id = ?", {plan_name, num(account_id)});
    if (to_str(acc[0][1]) != plan->period) rebuild_counters();
  }
  std::string key = generate_api_key();
  int64_t key_id = to_i64(c_->query(
      "INSERT INTO api_keys (key_hash, key_prefix, name, account_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
      {sha256_hex(key), key_display_prefix(key), name, num(account_id), num(now_s)})[0][0]);
  txn.commit();
  if (info) {
    info->key_id = key_id;
    info->key_prefix = key_display_prefix(key);
    info->name = name;
    info->account_id = account_id;
    info->account = account;
    info->plan = *plan;
    info->revoked = false;
    info->created_at = now_s;
  }
  return key;
}

std::optional<KeyInfo> SqlLedger::key_where(const std::string& condition, const db::Value& param) {
  auto rows = c_->query(std::string("SELECT k.id, k.key_prefix, k.name, k.account_id, a.name, k.revoked_at, "
                                    "k.created_at, k.key_hash, ") +
                            kPlanColumns +
                            " FROM api_keys k JOIN accounts a ON a.id = k.account_id JOIN plans p ON p.name = a.plan "
                            "WHERE " +
                            condition,
                        {param});
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  KeyInfo k;
  k.key_id = to_i64(r[0]);
  k.key_prefix = to_str(r[1]);
  k.name = to_str(r[2]);
  k.account_id = to_i64(r[3]);
  k.account = to_str(r[4]);
  k.revoked = r[5].has_value();
  k.created_at = to_i64(r[6]);
  k.plan = plan_from(r, 8);
  return k;
}

std::vector<KeyInfo> SqlLedger::keys() {
  std::lock_guard lock(mu_);
  std::vector<KeyInfo> out;
  for (const auto& r : c_->query("SELECT id FROM api_keys ORDER BY id"))
    if (auto k = key_where("k.id = ?", r[0])) out.push_back(*k);
  return out;
}

bool SqlLedger::revoke_key(const std::string& id_or_prefix) {
  std::lock_guard lock(mu_);
  db::WriteTxn txn(*c_);
  db::Rows ids;
  bool digits = !id_or_prefix.empty() && id_or_prefix.find_first_not_of("0123456789") == std::string::npos;
  if (digits)
    ids = c_->query("SELECT id FROM api_keys WHERE id = ?", {id_or_prefix});
  else if (id_or_prefix.size() > 12)  // the whole key
    ids = c_->query("SELECT id FROM api_keys WHERE key_hash = ?", {sha256_hex(id_or_prefix)});
  else
    ids = c_->query("SELECT id FROM api_keys WHERE key_prefix = ?", {id_or_prefix});
  if (ids.empty()) return false;
  TSR_CHECK(ids.size() == 1, Error, "revoke key: prefix '", id_or_prefix, "' matches ", ids.size(),
            " keys; give the key id (tessera keys list)");
  c_->query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            {num(now_ms() / 1000), ids[0][0]});
  txn.commit();
  return true;
}

std::optional<KeyInfo> SqlLedger::authenticate(const std::string& api_key) {
  std::string hash = sha256_hex(api_key);
  std::lock_guard lock(mu_);
  auto rows = c_->query("SELECT id, key_hash FROM api_keys WHERE key_hash = ?", {hash});
  // The lookup is by hash; the comparison proper is constant-time so a
  // near-miss key costs the same as any other.
  if (rows.empty() || !constant_time_equal(to_str(rows[0][1]), hash)) return std::nullopt;
  auto k = key_where("k.id = ?", rows[0][0]);
  if (!k || k->revoked) return std::nullopt;
  return k;
}

Price SqlLedger::set_price(const std::string& model, int64_t in, int64_t out) {
  TSR_CHECK(!model.empty(), Error, "price: empty model name");
  TSR_CHECK(in >= 0 && out >= 0, Error, "price of '", model, "': negative (input ", in, ", output ", out, ")");
  std::lock_guard lock(mu_);
  db::WriteTxn txn(*c_);
  c_->lock_everything();
  int64_t version =
      to_i64(c_->query("SELECT COALESCE(MAX(version), 0) FROM prices WHERE model = ?", {model})[0][0]) + 1;
  Price p{model, version, in, out, now_ms() / 1000};
  c_->query("INSERT INTO prices (model, version, input_micros_per_mtok, output_micros_per_mtok, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            {model, num(version), num(in), num(out), num(p.created_at)});
  txn.commit();
  return p;
}

Price SqlLedger::price_at(const std::string& model, int64_t version) {
  if (version == 0) return Price{model};
  auto rows = c_->query("SELECT model, version, input_micros_per_mtok, output_micros_per_mtok, created_at FROM prices "
                        "WHERE model = ? AND version = ?",
                        {model, num(version)});
  TSR_CHECK(!rows.empty(), Error, "ledger '", c_->where(), "': price version ", version, " of '", model, "' is missing");
  return price_from(rows[0]);
}

Price SqlLedger::current_price_locked(const std::string& model) {
  auto rows = c_->query("SELECT model, version, input_micros_per_mtok, output_micros_per_mtok, created_at FROM prices "
                        "WHERE model = ? ORDER BY version DESC LIMIT 1",
                        {model});
  return rows.empty() ? Price{model} : price_from(rows[0]);
}

Price SqlLedger::current_price(const std::string& model) {
  std::lock_guard lock(mu_);
  return current_price_locked(model);
}

std::vector<Price> SqlLedger::prices() {
  std::lock_guard lock(mu_);
  std::vector<Price> out;
  for (const auto& r : c_->query("SELECT model, version, input_micros_per_mtok, output_micros_per_mtok, created_at "
                                 "FROM prices ORDER BY model, version"))
    out.push_back(price_from(r));
  return out;
}

void SqlLedger::set_cost(const Cost& cost) {
  TSR_CHECK(!cost.model.empty(), Error, "cost: empty model name");
  TSR_CHECK(cost.micros_per_mtok >= 0 && cost.hourly_price_micros >= 0, Error, "cost of '", cost.model,
            "': negative figures");
  std::ostringstream tps;
  tps.precision(17);
  tps << cost.tokens_per_second;
  std::lock_guard lock(mu_);
  db::WriteTxn txn(*c_);
  c_->query("INSERT INTO costs (model, tokens_per_second, hourly_price_micros, micros_per_mtok, measured_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model) DO UPDATE SET tokens_per_second = excluded.tokens_per_second, "
            "hourly_price_micros = excluded.hourly_price_micros, micros_per_mtok = excluded.micros_per_mtok, "
            "measured_at = excluded.measured_at",
            {cost.model, tps.str(), num(cost.hourly_price_micros), num(cost.micros_per_mtok),
             num(cost.measured_at ? cost.measured_at : now_ms() / 1000)});
  txn.commit();
}

std::optional<Cost> SqlLedger::cost(const std::string& model) {
  std::lock_guard lock(mu_);
  auto rows = c_->query("SELECT model, tokens_per_second, hourly_price_micros, micros_per_mtok, measured_at FROM costs "
                        "WHERE model = ?",
                        {model});
  if (rows.empty()) return std::nullopt;
  Cost c;
  c.model = to_str(rows[0][0]);
  c.tokens_per_second = std::stod(to_str(rows[0][1]));
  c.hourly_price_micros = to_i64(rows[0][2]);
  c.micros_per_mtok = to_i64(rows[0][3]);
  c.measured_at = to_i64(rows[0][4]);
  return c;
}

}  // namespace tessera::billing
