// The serving side: reserve (admission against the plan's limits), settle,
// recover. Each is one short write transaction holding the account's lock,
// so counters and ledger rows always move together.
#include <algorithm>
#include <cmath>

#include "billing/sql_ledger.h"
#include "tessera/billing/money.h"
#include "tessera/core/error.h"

namespace tessera::billing {

using db::num;
using db::to_i64;
using db::to_str;

namespace {

constexpr int64_t kWindowMs = 60000;

double seconds(int64_t ms) { return std::max<int64_t>(ms, 0) / 1000.0; }

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

Admission SqlLedger::reserve(const KeyInfo& key, const std::string& request_id, const std::string& model,
                             int64_t prompt_tokens, int64_t max_tokens, const std::string& idempotency_key,
                             int64_t choices) {
  TSR_CHECK(!request_id.empty(), Error, "reserve: empty request id");
  TSR_CHECK(choices >= 1, Error, "reserve '", request_id, "': choices must be >= 1, got ", choices);
  TSR_CHECK(prompt_tokens >= 0, Error, "reserve '", request_id, "': negative prompt tokens ", prompt_tokens);
  std::lock_guard lock(mu_);
  const int64_t now = now_ms();
  db::WriteTxn txn(*c_);
  c_->lock_account(key.account_id);
  Admission ad;

  // The plan as it is now (the caller's KeyInfo may predate a plan change).
  auto found = account_plan(key.account_id);
  TSR_CHECK(found.has_value(), Error, "reserve: account ", key.account_id, " of key ", key.key_prefix, " not found");
  const Plan& plan = *found;

  if (!idempotency_key.empty()) {
    auto prev = c_->query(
        "SELECT r.request_id, c.kind, c.status, c.response_json FROM ledger r LEFT JOIN ledger c "
        "ON c.request_id = r.request_id AND c.kind <> 'reserve' "
        "WHERE r.kind = 'reserve' AND r.key_id = ? AND r.idempotency_key = ? ORDER BY r.id DESC LIMIT 1",
        {num(key.key_id), idempotency_key});
    if (!prev.empty()) {
      if (!prev[0][1]) {
        ad.code = "idempotency_in_progress";
        ad.message = "a request with Idempotency-Key '" + idempotency_key + "' (" + to_str(prev[0][0]) +
                     ") is still in progress";
        ad.retry_after_seconds = 1;
        return ad;
      }
      // A completed request is answered again; a failed, cancelled or
      // interrupted one may be retried under the same key.
      if (to_str(prev[0][2]) == "completed") {
        ad.ok = true;
        ad.replay_response_json = to_str(prev[0][3]);
        return ad;
      }
    }
  }

  if (!plan.allows(model)) {
    ad.code = "model_not_allowed";
    ad.message = "model '" + model + "' is not available on plan '" + plan.name + "' (allowed: " +
                 joined(plan.allowed_models) + ")";
    return ad;
  }

  max_tokens = std::max<int64_t>(max_tokens, 0);
  if (plan.max_output_tokens > 0) max_tokens = std::min(max_tokens, plan.max_output_tokens);
  max_tokens *= choices;  // every choice may use its max_tokens; the prompt is charged once
  const Price price = current_price_locked(model);
  const int64_t want_tokens = prompt_tokens + max_tokens;
  const int64_t want_micros = cost_micros(price, prompt_tokens, max_tokens);

  // Usage in the current period and open requests, over all the account's keys.
  const int64_t period_start = period_start_ms(plan.period, now);
  auto used = c_->query(
      "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(micros), 0) FROM counters WHERE account_id = ? AND period_start = ?",
      {num(key.account_id), num(period_start)});
  const int64_t period_tokens = to_i64(used[0][0]), period_micros = to_i64(used[0][1]);
  const int64_t open =
      to_i64(c_->query("SELECT COALESCE(SUM(open_requests), 0) FROM counters WHERE account_id = ?",
                       {num(key.account_id)})[0][0]);
  // Admitted requests of the last 60 s, oldest first.
  auto window = c_->query(
      "SELECT ts_ms, prompt_tokens + completion_tokens FROM ledger WHERE account_id = ? AND ts_ms > ? AND kind = 'reserve' "
      "ORDER BY ts_ms",
      {num(key.account_id), num(now - kWindowMs)});
  std::vector<int64_t> ts, tokens;
  int64_t window_tokens = 0;
  for (const auto& r : window) {
    ts.push_back(to_i64(r[0]));
    tokens.push_back(to_i64(r[1]));
    window_tokens += tokens.back();
  }
  const int64_t count = int64_t(ts.size());
  const int64_t rpm = plan.requests_per_minute, tpm = plan.tokens_per_minute;

  auto figures = [&](bool admitted) {
    ad.limit_requests = rpm;
    ad.limit_tokens = tpm;
    ad.remaining_requests = rpm ? std::max<int64_t>(0, rpm - count - (admitted ? 1 : 0)) : 0;
    ad.remaining_tokens = tpm ? std::max<int64_t>(0, tpm - window_tokens - (admitted ? want_tokens : 0)) : 0;
    int64_t oldest = count ? ts[0] : (admitted ? now : 0);
    ad.reset_requests_seconds = oldest ? seconds(oldest + kWindowMs - now) : 0;
    ad.reset_tokens_seconds = ad.reset_requests_seconds;
  };
  auto deny = [&](const std::string& code, const std::string& message, double retry_after) {
    figures(false);
    ad.code = code;
    ad.message = message;
    ad.retry_after_seconds = retry_after;
    return ad;
  };
  const double until_period_end =
      plan.period == "total" ? 0 : seconds(period_end_ms(plan.period, now) - now);

  if (plan.token_quota > 0 && period_tokens + want_tokens > plan.token_quota)
    return deny("insufficient_quota",
                "token quota of plan '" + plan.name + "' exceeded: " + std::to_string(period_tokens) +
                    " used or reserved this " + plan.period + " + " + std::to_string(want_tokens) +
                    " requested > " + std::to_string(plan.token_quota),
                until_period_end);
  if (plan.budget_micros > 0 && period_micros + want_micros > plan.budget_micros)
    return deny("insufficient_quota",
                "budget of plan '" + plan.name + "' exceeded: " + format_micros(period_micros) +
                    " spent or reserved this " + plan.period + " + " + format_micros(want_micros) + " requested > " +
                    format_micros(plan.budget_micros),
                until_period_end);
  if (plan.max_parallel > 0 && open >= plan.max_parallel)
    return deny("rate_limit_exceeded",
                "parallel requests of plan '" + plan.name + "': " + std::to_string(open) + " open, limit " +
                    std::to_string(plan.max_parallel),
                1);
  if (rpm > 0 && count + 1 > rpm)
    // Admission needs count + 1 - rpm rows to leave the window; the last of them is ts[count - rpm].
    return deny("rate_limit_exceeded",
                "requests per minute of plan '" + plan.name + "': " + std::to_string(count) +
                    " in the last 60 s, limit " + std::to_string(rpm),
                seconds(ts[size_t(count - rpm)] + kWindowMs - now));
  if (tpm > 0 && window_tokens + want_tokens > tpm) {
    if (want_tokens > tpm)
      return deny("rate_limit_exceeded",
                  "this request reserves " + std::to_string(want_tokens) + " tokens (prompt + max_tokens), more than "
                  "plan '" + plan.name + "' allows per minute (" + std::to_string(tpm) + "); lower max_tokens",
                  seconds(kWindowMs));
    int64_t left = window_tokens;
    size_t i = 0;
    while (left + want_tokens > tpm) left -= tokens[i++];
    return deny("rate_limit_exceeded",
                "tokens per minute of plan '" + plan.name + "': " + std::to_string(window_tokens) +
                    " reserved in the last 60 s + " + std::to_string(want_tokens) + " > " + std::to_string(tpm),
                seconds(ts[i - 1] + kWindowMs - now));
  }

  db::Value idem = idempotency_key.empty() ? db::Value() : db::Value(idempotency_key);
  int64_t ledger_id = to_i64(c_->query(
      "INSERT INTO ledger (ts_ms, kind, request_id, key_id, account_id, model, price_version, prompt_tokens, "
      "completion_tokens, cost_micros, status, instance, idempotency_key, response_json) "
      "VALUES (?, 'reserve', ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, NULL) RETURNING id",
      {num(now), request_id, num(key.key_id), num(key.account_id), model, num(price.version), num(prompt_tokens),
       num(max_tokens), num(want_micros), instance_, idem})[0][0]);
  c_->query(
      "INSERT INTO counters (key_id, period_start, account_id, tokens, micros, open_requests) VALUES (?, ?, ?, ?, ?, 1) "
      "ON CONFLICT (key_id, period_start) DO UPDATE SET tokens = counters.tokens + excluded.tokens, "
      "micros = counters.micros + excluded.micros, open_requests = counters.open_requests + 1",
      {num(key.key_id), num(period_start), num(key.account_id), num(want_tokens), num(want_micros)});
  txn.commit();

  ad.ok = true;
  figures(true);
  Reservation r;
  r.ledger_id = ledger_id;
  r.request_id = request_id;
  r.key_id = key.key_id;
  r.account_id = key.account_id;
  r.model = model;
  r.price = price;
  r.prompt_tokens = prompt_tokens;
  r.max_tokens = max_tokens;
  r.reserved_micros = want_micros;
  ad.reservation = r;
  return ad;
}

Settlement SqlLedger::settle(const Reservation& res, int64_t prompt_tokens, int64_t completion_tokens,
                             const std::string& status, const std::string& response_json) {
  TSR_CHECK(status == "completed" || status == "cancelled" || status == "failed", Error, "settle '", res.request_id,
            "': status '", status, "' (expected completed, cancelled or failed)");
  std::lock_guard lock(mu_);
  const int64_t now = now_ms();
  db::WriteTxn txn(*c_);
  c_->lock_account(res.account_id);
  // The reserve row is the truth about what was reserved, not the caller's copy.
  auto rows = c_->query(
      "SELECT ts_ms, key_id, account_id, model, price_version, prompt_tokens, completion_tokens, cost_micros, "
      "idempotency_key FROM ledger WHERE id = ? AND kind = 'reserve' AND request_id = ?",
      {num(res.ledger_id), res.request_id});
  TSR_CHECK(!rows.empty(), Error, "settle: no reservation '", res.request_id, "' (ledger row ", res.ledger_id, ")");
  const auto& r = rows[0];
  auto closed = c_->query("SELECT kind, status FROM ledger WHERE request_id = ? AND kind <> 'reserve'", {res.request_id});
  TSR_CHECK(closed.empty(), Error, "settle '", res.request_id, "': already closed by a ", to_str(closed[0][0]),
            " row (", to_str(closed[0][1]), ")");
  const int64_t reserve_ts = to_i64(r[0]), key_id = to_i64(r[1]), account_id = to_i64(r[2]);
  const std::string model = to_str(r[3]);
  const int64_t version = to_i64(r[4]), reserved_prompt = to_i64(r[5]), reserved_completion = to_i64(r[6]),
                reserved_micros = to_i64(r[7]);
  Settlement s;
  s.prompt_tokens = std::clamp<int64_t>(prompt_tokens, 0, reserved_prompt);
  s.completion_tokens = std::clamp<int64_t>(completion_tokens, 0, reserved_completion);
  s.cost_micros = cost_micros(price_at(model, version), s.prompt_tokens, s.completion_tokens);
  s.ledger_id = to_i64(c_->query(
      "INSERT INTO ledger (ts_ms, kind, request_id, key_id, account_id, model, price_version, prompt_tokens, "
      "completion_tokens, cost_micros, status, instance, idempotency_key, response_json) "
      "VALUES (?, 'commit', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      {num(now), res.request_id, num(key_id), num(account_id), model, num(version), num(s.prompt_tokens),
       num(s.completion_tokens), num(s.cost_micros), status, instance_, r[8], response_json})[0][0]);
  auto plan = account_plan(account_id);
  const int64_t period_start = period_start_ms(plan ? plan->period : "total", reserve_ts);
  c_->query(
      "UPDATE counters SET tokens = tokens - ?, micros = micros - ?, open_requests = open_requests - 1 "
      "WHERE key_id = ? AND period_start = ?",
      {num(reserved_prompt + reserved_completion - s.prompt_tokens - s.completion_tokens),
       num(reserved_micros - s.cost_micros), num(key_id), num(period_start)});
  txn.commit();
  return s;
}

int64_t SqlLedger::recover() {
  std::lock_guard lock(mu_);
  const int64_t now = now_ms();
  db::WriteTxn txn(*c_);
  c_->lock_everything();
  auto open = c_->query(
      "SELECT r.request_id, r.key_id, r.account_id, r.model, r.price_version, r.prompt_tokens, r.idempotency_key "
      "FROM ledger r WHERE r.kind = 'reserve' AND r.instance = ? AND NOT EXISTS "
      "(SELECT 1 FROM ledger c WHERE c.request_id = r.request_id AND c.kind <> 'reserve') ORDER BY r.id",
      {instance_});
  for (const auto& r : open) {
    // What was recorded: the prompt was processed; no completion is known.
    const int64_t prompt = to_i64(r[5]);
    const int64_t cost = cost_micros(price_at(to_str(r[3]), to_i64(r[4])), prompt, 0);
    c_->query(
        "INSERT INTO ledger (ts_ms, kind, request_id, key_id, account_id, model, price_version, prompt_tokens, "
        "completion_tokens, cost_micros, status, instance, idempotency_key, response_json) "
        "VALUES (?, 'interrupt', ?, ?, ?, ?, ?, ?, 0, ?, 'interrupted', ?, ?, NULL)",
        {num(now), r[0], r[1], r[2], r[3], r[4], num(prompt), num(cost), instance_, r[6]});
  }
  rebuild_counters();
  txn.commit();
  return int64_t(open.size());
}

}  // namespace tessera::billing
