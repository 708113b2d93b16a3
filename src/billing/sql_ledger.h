// The one implementation of the ledger's rules (tessera/billing/ledger.h),
// over the driver seam (billing/db.h). Split by concern: ledger.cpp (open,
// plans, keys, prices, costs), ledger_serving.cpp (reserve, settle, recover),
// ledger_reports.cpp (usage, counters). A mutex guards the one connection:
// the server calls one Ledger from many HTTP threads.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "billing/db.h"
#include "tessera/billing/ledger.h"

namespace tessera::billing {

int64_t now_ms();

class SqlLedger final : public Ledger {
 public:
  SqlLedger(std::unique_ptr<db::Connection> c, std::string instance);

  void put_plan(const Plan& plan) override;
  std::vector<Plan> plans() override;
  std::optional<Plan> plan(const std::string& name) override;
  std::string create_key(const std::string& account, const std::string& plan, const std::string& name,
                         KeyInfo* info) override;
  std::vector<KeyInfo> keys() override;
  bool revoke_key(const std::string& id_or_prefix) override;
  Price set_price(const std::string& model, int64_t input_micros_per_mtok, int64_t output_micros_per_mtok) override;
  Price current_price(const std::string& model) override;
  std::vector<Price> prices() override;
  void set_cost(const Cost& cost) override;
  std::optional<Cost> cost(const std::string& model) override;

  std::optional<KeyInfo> authenticate(const std::string& api_key) override;
  Admission reserve(const KeyInfo& key, const std::string& request_id, const std::string& model,
                    int64_t prompt_tokens, int64_t max_tokens, const std::string& idempotency_key,
                    int64_t choices) override;
  Settlement settle(const Reservation& r, int64_t prompt_tokens, int64_t completion_tokens, const std::string& status,
                    const std::string& response_json) override;
  int64_t recover() override;

  std::vector<UsageRow> usage(int64_t from, int64_t to, const std::string& by) override;
  std::vector<KeyCounters> counters() override;
  std::vector<KeyCounters> counters_from_ledger() override;
  int64_t open_reservations() override;

 private:
  // Usage of one key in one period, as the counters table holds it.
  struct PeriodUsage {
    int64_t account_id = 0, tokens = 0, micros = 0, open_requests = 0;
  };
  using UsageByKeyPeriod = std::map<std::pair<int64_t, int64_t>, PeriodUsage>;  // (key_id, period_start)

  // All below run with mu_ held.
  std::optional<Plan> plan_locked(const std::string& name);
  std::optional<Plan> account_plan(int64_t account_id);
  Price price_at(const std::string& model, int64_t version);
  Price current_price_locked(const std::string& model);
  std::map<int64_t, std::string> key_periods();          // key_id -> its account's plan period
  UsageByKeyPeriod usage_from_ledger();                  // what the counters must equal
  void rebuild_counters();                               // inside a write txn, after lock_everything()
  std::vector<KeyCounters> current_period(const UsageByKeyPeriod& usage);
  std::optional<KeyInfo> key_where(const std::string& condition, const db::Value& param);

  std::mutex mu_;
  std::unique_ptr<db::Connection> c_;
  std::string instance_;
};

}  // namespace tessera::billing
