// `tessera plans`, `tessera keys` and `tessera usage` end to end on a SQLite
// ledger, including the one-line errors for bad input.
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "billing/db.h"
#include "billing/ledger_fixture.h"
#include "cli_util.h"
#include "tessera/billing/ledger.h"

using tessera::test_util::run_tessera;

namespace {

class BillingCli : public ::testing::Test {
 protected:
  void SetUp() override { db_ = tessera::test_util::scratch_db_path("cli"); }
  void TearDown() override { tessera::test_util::remove_sqlite_files(db_); }
  // Exit code and stdout only.
  std::pair<int, std::string> out(const std::string& args) { return run_tessera(args + " --db " + db_, "2>/dev/null"); }
  // Exit code and stderr only.
  std::pair<int, std::string> err(const std::string& args) { return run_tessera(args + " --db " + db_); }
  std::string db_;
};

int lines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_F(BillingCli, PlansAndPricesRoundTrip) {
  ASSERT_EQ(out("plans set basic --budget 5.25 --models gpt-a,gpt-b --rpm 60 --period day").first, 0);
  ASSERT_EQ(out("plans set basic --tpm 1000").first, 0);  // keeps the rest
  auto [rc, json] = out("plans list --format json");
  ASSERT_EQ(rc, 0);
  auto plans = nlohmann::json::parse(json);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0]["budget_micros"], 5250000);
  EXPECT_EQ(plans[0]["period"], "day");
  EXPECT_EQ(plans[0]["requests_per_minute"], 60);
  EXPECT_EQ(plans[0]["tokens_per_minute"], 1000);
  EXPECT_EQ(plans[0]["allowed_models"], nlohmann::json({"gpt-a", "gpt-b"}));

  ASSERT_EQ(out("plans price gpt-a --input 0.50 --output 1.5").first, 0);
  ASSERT_EQ(out("plans price gpt-a --input 0.75 --output 2").first, 0);
  auto prices = nlohmann::json::parse(out("plans prices --format json").second);
  ASSERT_EQ(prices.size(), 2u);
  EXPECT_EQ(prices[0]["input_micros_per_mtok"], 500000);
  EXPECT_EQ(prices[0]["output_micros_per_mtok"], 1500000);
  EXPECT_EQ(prices[1]["version"], 2);
}

TEST_F(BillingCli, KeyIsPrintedOnceAndNeverListed) {
  ASSERT_EQ(out("plans set basic").first, 0);
  auto [rc, printed] = out("keys create --plan basic --account acme --name ci");
  ASSERT_EQ(rc, 0);
  std::string key = printed.substr(printed.rfind('\n', printed.size() - 2) + 1);
  key.pop_back();
  ASSERT_EQ(key.size(), 44u) << printed;
  auto ledger = tessera::billing::Ledger::open(db_);
  ASSERT_TRUE(ledger->authenticate(key).has_value());
  auto [lrc, listed] = out("keys list");
  EXPECT_EQ(lrc, 0);
  EXPECT_EQ(listed.find(key.substr(4)), std::string::npos);
  EXPECT_NE(listed.find(key.substr(0, 12)), std::string::npos) << listed;
  EXPECT_NE(listed.find("acme"), std::string::npos);
  EXPECT_EQ(out("keys revoke " + key.substr(0, 12)).first, 0);
  EXPECT_FALSE(ledger->authenticate(key).has_value());
  auto [nrc, none] = err("keys revoke tsk-XXXXXXXX");
  EXPECT_NE(nrc, 0);
  EXPECT_NE(none.find("no key"), std::string::npos) << none;
}

TEST_F(BillingCli, BadInputIsOneClearLine) {
  ASSERT_EQ(out("plans set basic").first, 0);
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"keys create --plan nope", "unknown plan 'nope'"},
      {"plans price m --input 0.1234567 --output 1", "more than 6 decimals"},
      {"plans price m --input 1,5 --output 1", "not a decimal amount"},
      {"plans set x --budget -3", "not a decimal amount"},
      {"usage report --from 2024-13-01", "not a date"},
      {"usage report --by week", "week"},
  };
  for (const auto& c : cases) {
    auto [rc, e] = err(c.args);
    EXPECT_NE(rc, 0) << c.args;
    EXPECT_EQ(lines(e), 1) << c.args << ": " << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.args << ": " << e;
  }
  auto [rc, e] = run_tessera("usage report --db /nonexistent-dir/x.db");
  EXPECT_NE(rc, 0);
  EXPECT_EQ(lines(e), 1) << e;
  EXPECT_NE(e.find("/nonexistent-dir/x.db"), std::string::npos) << e;
  auto [prc, pe] = run_tessera("keys list --db postgresql://127.0.0.1:1/nothing");
  EXPECT_NE(prc, 0);
  EXPECT_EQ(lines(pe), 1) << pe;
  EXPECT_NE(pe.find("PostgreSQL"), std::string::npos) << pe;
}

TEST_F(BillingCli, ReportFlagsUnderCostAndAuditChecksCounters) {
  {
    auto l = tessera::billing::Ledger::open(db_);
    tessera::billing::Plan p;
    p.name = "basic";
    p.budget_micros = 1000000;
    l->put_plan(p);
    l->set_price("cheap", 1000000, 1000000);
    l->set_price("dear", 1000000, 10000000);
    tessera::billing::KeyInfo k;
    l->create_key("acme", "basic", "ci", &k);
    for (const char* model : {"cheap", "dear"}) {
      auto a = l->reserve(k, std::string("r-") + model, model, 100, 100);
      ASSERT_TRUE(a.ok);
      l->settle(*a.reservation, 100, 100, "completed");
    }
    // Serving costs 5 micros per generated token: above "cheap"'s price, below "dear"'s.
    tessera::billing::Cost c;
    c.model = "cheap";
    c.tokens_per_second = 100;
    c.hourly_price_micros = 1800000000;
    c.micros_per_mtok = 5000000;
    l->set_cost(c);
    c.model = "dear";
    l->set_cost(c);
  }
  auto [rc, table] = out("usage report --by model");
  ASSERT_EQ(rc, 0);
  auto row = [&](const std::string& model) { return table.substr(table.find("\n" + model + " ") + 1, 120); };
  EXPECT_NE(row("cheap").find("UNDER COST"), std::string::npos) << table;  // revenue 200, cost 500
  EXPECT_EQ(row("dear").substr(0, row("dear").find('\n')).find("UNDER COST"), std::string::npos) << table;
  EXPECT_NE(table.find("0.001100"), std::string::npos) << table;  // dear: 100 + 1000 micros

  auto [jrc, json] = out("usage report --by key --format json");
  ASSERT_EQ(jrc, 0);
  auto rows = nlohmann::json::parse(json);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["requests"], 2);
  EXPECT_EQ(rows[0]["revenue_micros"], 200 + 1100);
  EXPECT_EQ(rows[0]["cost_micros"], 1000);

  auto [crc, csv] = out("usage report --by day --format csv --from 2020-01-01");
  ASSERT_EQ(crc, 0);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "day,requests,prompt_tokens,completion_tokens,revenue,cost,margin_%,interrupted,cancelled,flag");
  EXPECT_EQ(lines(csv), 2);
  EXPECT_EQ(lines(out("usage report --by day --format csv --to 2020-01-01").second), 1);  // header only

  auto [arc, audit] = out("usage audit --format json");
  EXPECT_EQ(arc, 0) << audit;
  auto a = nlohmann::json::parse(audit);
  EXPECT_EQ(a["open_reservations"], 0);
  EXPECT_EQ(a["counters_equal"], true);
  EXPECT_EQ(a["accounts"][0]["charged_micros"], 1300);
  tessera::billing::db::open_sqlite(db_)->query("UPDATE counters SET micros = micros + 7");
  auto [brc, bad] = out("usage audit");
  EXPECT_EQ(brc, 1) << bad;
  EXPECT_NE(bad.find("COUNTERS DIFFER"), std::string::npos) << bad;
}
