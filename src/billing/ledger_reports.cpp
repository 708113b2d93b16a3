// Reports: usage by key/model/day with revenue and measured cost, counters as
// kept and as recomputed from the ledger rows (and the rebuild recover() does).
#include <algorithm>
#include <limits>
#include <set>

#include "billing/sql_ledger.h"
#include "tessera/billing/money.h"
#include "tessera/core/error.h"

namespace tessera::billing {

using db::num;
using db::to_i64;
using db::to_str;

std::map<int64_t, std::string> SqlLedger::key_periods() {
  std::map<int64_t, std::string> out;
  for (const auto& r : c_->query("SELECT k.id, p.period FROM api_keys k JOIN accounts a ON a.id = k.account_id "
                                 "JOIN plans p ON p.name = a.plan"))
    out[to_i64(r[0])] = to_str(r[1]);
  return out;
}

// Every reservation counts in the period of its reserve row: what it reserved
// while open, what its commit/interrupt row charged once closed.
SqlLedger::UsageByKeyPeriod SqlLedger::usage_from_ledger() {
  auto periods = key_periods();
  UsageByKeyPeriod out;
  for (const auto& r : c_->query(
           "SELECT r.key_id, r.account_id, r.ts_ms, r.prompt_tokens + r.completion_tokens, r.cost_micros, "
           "c.prompt_tokens + c.completion_tokens, c.cost_micros FROM ledger r LEFT JOIN ledger c "
           "ON c.request_id = r.request_id AND c.kind <> 'reserve' WHERE r.kind = 'reserve'")) {
    const int64_t key_id = to_i64(r[0]);
    auto it = periods.find(key_id);
    auto& u = out[{key_id, period_start_ms(it == periods.end() ? "total" : it->second, to_i64(r[2]))}];
    u.account_id = to_i64(r[1]);
    const bool open = !r[5].has_value();
    u.tokens += to_i64(open ? r[3] : r[5]);
    u.micros += to_i64(open ? r[4] : r[6]);
    u.open_requests += open ? 1 : 0;
  }
  return out;
}

void SqlLedger::rebuild_counters() {
  auto usage = usage_from_ledger();
  c_->query("DELETE FROM counters");
  for (const auto& [kp, u] : usage)
    c_->query("INSERT INTO counters (key_id, period_start, account_id, tokens, micros, open_requests) "
              "VALUES (?, ?, ?, ?, ?, ?)",
              {num(kp.first), num(kp.second), num(u.account_id), num(u.tokens), num(u.micros), num(u.open_requests)});
}

// Per key: tokens and micros of its current period, open requests of any period.
std::vector<KeyCounters> SqlLedger::current_period(const UsageByKeyPeriod& usage) {
  const int64_t now = now_ms();
  auto periods = key_periods();
  std::map<int64_t, KeyCounters> by_key;
  for (const auto& [id, period] : periods) by_key[id].key_id = id;
  for (const auto& [kp, u] : usage) {
    auto& k = by_key[kp.first];
    k.key_id = kp.first;
    auto it = periods.find(kp.first);
    if (kp.second == period_start_ms(it == periods.end() ? "total" : it->second, now)) {
      k.tokens += u.tokens;
      k.micros += u.micros;
    }
    k.open_requests += u.open_requests;
  }
  std::vector<KeyCounters> out;
  for (const auto& [id, k] : by_key) out.push_back(k);
  return out;
}

std::vector<KeyCounters> SqlLedger::counters() {
  std::lock_guard lock(mu_);
  UsageByKeyPeriod kept;
  for (const auto& r : c_->query("SELECT key_id, period_start, account_id, tokens, micros, open_requests FROM counters"))
    kept[{to_i64(r[0]), to_i64(r[1])}] = {to_i64(r[2]), to_i64(r[3]), to_i64(r[4]), to_i64(r[5])};
  return current_period(kept);
}

std::vector<KeyCounters> SqlLedger::counters_from_ledger() {
  std::lock_guard lock(mu_);
  return current_period(usage_from_ledger());
}

int64_t SqlLedger::open_reservations() {
  std::lock_guard lock(mu_);
  return to_i64(c_->query("SELECT COUNT(*) FROM ledger r WHERE r.kind = 'reserve' AND NOT EXISTS "
                          "(SELECT 1 FROM ledger c WHERE c.request_id = r.request_id AND c.kind <> 'reserve')")[0][0]);
}

std::vector<UsageRow> SqlLedger::usage(int64_t from, int64_t to, const std::string& by) {
  TSR_CHECK(by == "key" || by == "model" || by == "day", Error, "usage: group by '", by,
            "' (expected key, model or day)");
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000;
  from = std::clamp<int64_t>(from, -kMaxSeconds, kMaxSeconds);
  to = std::clamp<int64_t>(to, -kMaxSeconds, kMaxSeconds);
  std::lock_guard lock(mu_);
  std::map<std::string, int64_t> cost_per_mtok;
  for (const auto& r : c_->query("SELECT model, micros_per_mtok FROM costs")) cost_per_mtok[to_str(r[0])] = to_i64(r[1]);

  // Usage is recognised when it is settled (the commit or interrupt row's time).
  struct Group {
    UsageRow row;
    std::map<std::string, int64_t> completion_by_model;
  };
  std::map<std::string, Group> groups;
  for (const auto& r : c_->query(
           "SELECT c.kind, c.status, c.ts_ms, c.model, c.prompt_tokens, c.completion_tokens, c.cost_micros, "
           "k.key_prefix, k.name FROM ledger c LEFT JOIN api_keys k ON k.id = c.key_id "
           "WHERE c.kind <> 'reserve' AND c.ts_ms >= ? AND c.ts_ms < ?",
           {num(from * 1000), num(to * 1000)})) {
    std::string label;
    if (by == "model")
      label = to_str(r[3]);
    else if (by == "day")
      label = format_day(to_i64(r[2]));
    else
      label = to_str(r[7]) + (to_str(r[8]).empty() ? "" : " (" + to_str(r[8]) + ")");
    auto& g = groups[label];
    g.row.group = label;
    g.row.requests += 1;
    g.row.prompt_tokens += to_i64(r[4]);
    g.row.completion_tokens += to_i64(r[5]);
    g.row.revenue_micros += to_i64(r[6]);
    g.row.interrupted += to_str(r[0]) == "interrupt" ? 1 : 0;
    g.row.cancelled += to_str(r[1]) == "cancelled" ? 1 : 0;
    g.completion_by_model[to_str(r[3])] += to_i64(r[5]);
  }
  std::vector<UsageRow> out;
  for (auto& [label, g] : groups) {
    // Serving cost is measured per generated token (Cost); a group is costed
    // only when every model in it was measured.
    int64_t cost = 0;
    for (const auto& [model, completion] : g.completion_by_model) {
      auto it = cost_per_mtok.find(model);
      if (it == cost_per_mtok.end()) {
        cost = -1;
        break;
      }
      cost += cost_micros(Price{model, 0, 0, it->second, 0}, 0, completion);
    }
    g.row.cost_micros = cost;
    out.push_back(g.row);
  }
  return out;
}

}  // namespace tessera::billing
