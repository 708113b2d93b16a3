// The ledger's rules, run on every backend (ledger_fixture.h): keys, plan
// limits, prices, settlement, idempotency, crash recovery, concurrency.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <thread>

#include "billing/keys.h"
#include "billing/ledger_fixture.h"
#include "tessera/core/error.h"

using namespace tessera;
using namespace tessera::billing;
using tessera::test_util::LedgerContract;

namespace {

Plan make_plan(const std::string& name) {
  Plan p;
  p.name = name;
  return p;
}

void expect_counters_consistent(Ledger& l) {
  auto kept = l.counters(), rebuilt = l.counters_from_ledger();
  ASSERT_EQ(kept.size(), rebuilt.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].key_id, rebuilt[i].key_id);
    EXPECT_EQ(kept[i].tokens, rebuilt[i].tokens) << "key " << kept[i].key_id;
    EXPECT_EQ(kept[i].micros, rebuilt[i].micros) << "key " << kept[i].key_id;
    EXPECT_EQ(kept[i].open_requests, rebuilt[i].open_requests) << "key " << kept[i].key_id;
  }
}

int64_t total_revenue(Ledger& l) {
  int64_t sum = 0;
  for (const auto& r : l.usage(0, std::numeric_limits<int64_t>::max(), "key")) sum += r.revenue_micros;
  return sum;
}

}  // namespace

TEST_P(LedgerContract, KeysAreStoredOnlyAsHashes) {
  auto l = open();
  l->put_plan(make_plan("basic"));
  KeyInfo info;
  std::string key = l->create_key("acme", "basic", "ci", &info);
  ASSERT_EQ(key.size(), 44u);
  auto who = l->authenticate(key);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->key_id, info.key_id);
  EXPECT_EQ(who->account, "acme");
  EXPECT_EQ(who->plan.name, "basic");
  EXPECT_EQ(who->key_prefix, key.substr(0, 12));

  // No column of any key row holds the key; its SHA-256 is there.
  auto c = raw();
  bool hash_found = false;
  for (const auto& row : c->query("SELECT * FROM api_keys"))
    for (const auto& v : row) {
      ASSERT_FALSE(v && v->find(key.substr(4)) != std::string::npos) << "plaintext key in the database";
      hash_found = hash_found || (v && *v == sha256_hex(key));
    }
  EXPECT_TRUE(hash_found);
  if (GetParam() == "sqlite") {
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream f(db_ + suffix, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(f)), {});
      EXPECT_EQ(bytes.find(key.substr(4)), std::string::npos) << "plaintext key in " << db_ << suffix;
    }
  }

  std::string near = key;
  near.back() = near.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(l->authenticate(near).has_value());
  EXPECT_FALSE(l->authenticate("").has_value());
  EXPECT_FALSE(l->revoke_key("tsk-nothere"));
  EXPECT_TRUE(l->revoke_key(info.key_prefix));
  EXPECT_FALSE(l->authenticate(key).has_value());
  auto keys = l->keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_TRUE(keys[0].revoked);
  EXPECT_THROW(l->create_key("acme", "no-such-plan", ""), Error);
}

TEST_P(LedgerContract, ModelOutsideThePlanIsRefused) {
  auto l = open();
  Plan p = make_plan("narrow");
  p.allowed_models = {"small"};
  l->put_plan(p);
  KeyInfo k;
  l->create_key("acme", "narrow", "", &k);
  auto denied = l->reserve(k, "r1", "large", 10, 10);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.code, "model_not_allowed");
  EXPECT_NE(denied.message.find("large"), std::string::npos) << denied.message;
  EXPECT_TRUE(l->reserve(k, "r2", "small", 10, 10).ok);
  EXPECT_EQ(l->open_reservations(), 1);
}

TEST_P(LedgerContract, TokenQuotaCountsOpenReservationsAndFreesOnSettle) {
  auto l = open();
  Plan p = make_plan("q");
  p.token_quota = 100;
  l->put_plan(p);
  KeyInfo a, b;
  l->create_key("acme", "q", "one", &a);
  l->create_key("acme", "q", "two", &b);  // the quota is the account's, across keys
  auto first = l->reserve(a, "r1", "m", 50, 40);
  ASSERT_TRUE(first.ok);
  auto denied = l->reserve(b, "r2", "m", 20, 0);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.code, "insufficient_quota");
  EXPECT_GT(denied.retry_after_seconds, 0);  // the month ends
  l->settle(*first.reservation, 50, 10, "completed");  // 60 used: 30 released
  EXPECT_TRUE(l->reserve(b, "r3", "m", 20, 0).ok);
  expect_counters_consistent(*l);
}

TEST_P(LedgerContract, BudgetIsEnforcedInMicros) {
  auto l = open();
  l->set_price("m", 1000000, 2000000);  // 1 and 2 micros per token
  Plan p = make_plan("b");
  p.budget_micros = 100;
  p.period = "total";
  l->put_plan(p);
  KeyInfo k;
  l->create_key("acme", "b", "", &k);
  auto a = l->reserve(k, "r1", "m", 10, 40);  // 10 + 80
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.reservation->reserved_micros, 90);
  EXPECT_TRUE(l->reserve(k, "r2", "m", 10, 0).ok);  // exactly 100
  auto denied = l->reserve(k, "r3", "m", 1, 0);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.code, "insufficient_quota");
  EXPECT_NE(denied.message.find("budget"), std::string::npos) << denied.message;
  EXPECT_EQ(denied.retry_after_seconds, 0);  // a total budget never resets
}

TEST_P(LedgerContract, RequestsPerMinuteAreLimited) {
  auto l = open();
  Plan p = make_plan("rpm");
  p.requests_per_minute = 2;
  l->put_plan(p);
  KeyInfo k;
  l->create_key("acme", "rpm", "", &k);
  auto one = l->reserve(k, "r1", "m", 1, 1);
  ASSERT_TRUE(one.ok);
  EXPECT_EQ(one.limit_requests, 2);
  EXPECT_EQ(one.remaining_requests, 1);
  l->settle(*one.reservation, 1, 1, "completed");  // settled requests still count in the window
  ASSERT_TRUE(l->reserve(k, "r2", "m", 1, 1).ok);
  auto denied = l->reserve(k, "r3", "m", 1, 1);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.code, "rate_limit_exceeded");
  EXPECT_EQ(denied.remaining_requests, 0);
  EXPECT_GT(denied.retry_after_seconds, 0);
  EXPECT_LE(denied.retry_after_seconds, 60);
  EXPECT_GT(denied.reset_requests_seconds, 0);
}

TEST_P(LedgerContract, TokensPerMinuteAreLimited) {
  auto l = open();
  Plan p = make_plan("tpm");
  p.tokens_per_minute = 100;
  l->put_plan(p);
  KeyInfo k;
  l->create_key("acme", "tpm", "", &k);
  auto a = l->reserve(k, "r1", "m", 10, 50);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.limit_tokens, 100);
  EXPECT_EQ(a.remaining_tokens, 40);
  auto denied = l->reserve(k, "r2", "m", 10, 40);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.code, "rate_limit_exceeded");
  EXPECT_GT(denied.retry_after_seconds, 0);
  EXPECT_LE(denied.retry_after_seconds, 60);
  EXPECT_TRUE(l->reserve(k, "r3", "m", 10, 30).ok);  // exactly 100
  auto never = l->reserve(k, "r4", "m", 10, 500);
  EXPECT_EQ(never.code, "rate_limit_exceeded");
  EXPECT_NE(never.message.find("max_tokens"), std::string::npos) << never.message;
}

TEST_P(LedgerContract, ParallelRequestsAreLimited) {
  auto l = open();
  Plan p = make_plan("par");
  p.max_parallel = 1;
  l->put_plan(p);
  KeyInfo k;
  l->create_key("acme", "par", "", &k);
  auto a = l->reserve(k, "r1", "m", 1, 1);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(l->reserve(k, "r2", "m", 1, 1).code, "rate_limit_exceeded");
  l->settle(*a.reservation, 1, 0, "cancelled");
  EXPECT_TRUE(l->reserve(k, "r3", "m", 1, 1).ok);
}

TEST_P(LedgerContract, MaxTokensIsClampedToThePlanAndSettlementToTheReservation) {
  auto l = open();
  l->set_price("m", 1000000, 1000000);
  Plan p = make_plan("cap");
  p.max_output_tokens = 16;
  l->put_plan(p);
  KeyInfo k;
  l->create_key("acme", "cap", "", &k);
  auto a = l->reserve(k, "r1", "m", 8, 100);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.reservation->max_tokens, 16);
  EXPECT_EQ(a.reservation->reserved_micros, 24);
  Settlement s = l->settle(*a.reservation, 9, 50, "completed");
  EXPECT_EQ(s.prompt_tokens, 8);
  EXPECT_EQ(s.completion_tokens, 16);
  EXPECT_EQ(s.cost_micros, 24);
  EXPECT_THROW(l->settle(*a.reservation, 8, 1, "completed"), Error);  // closed once
  auto b = l->reserve(k, "r2", "m", 8, 4);
  EXPECT_THROW(l->settle(*b.reservation, 8, 1, "done"), Error);
  EXPECT_EQ(l->open_reservations(), 1);
  // n = 3 choices: each clamped to the cap, all three reserved, the prompt once.
  auto c = l->reserve(k, "r3", "m", 8, 100, "", 3);
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.reservation->max_tokens, 48);
  EXPECT_EQ(c.reservation->reserved_micros, 56);
  EXPECT_EQ(l->settle(*c.reservation, 8, 40, "completed").completion_tokens, 40);
  EXPECT_THROW(l->reserve(k, "r4", "m", 8, 4, "", 0), Error);
  expect_counters_consistent(*l);
}

TEST_P(LedgerContract, OldRowsKeepTheirPriceVersion) {
  auto l = open();
  l->put_plan(make_plan("p"));
  KeyInfo k;
  l->create_key("acme", "p", "", &k);
  EXPECT_EQ(l->current_price("m").version, 0);
  auto free_ride = l->reserve(k, "r0", "m", 10, 10);
  EXPECT_EQ(free_ride.reservation->reserved_micros, 0);
  Price v1 = l->set_price("m", 1000000, 1000000);
  auto a = l->reserve(k, "r1", "m", 10, 10);
  Price v2 = l->set_price("m", 3000000, 3000000);
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(l->current_price("m").input_micros_per_mtok, 3000000);
  auto b = l->reserve(k, "r2", "m", 10, 10);
  EXPECT_EQ(a.reservation->price.version, 1);
  EXPECT_EQ(b.reservation->price.version, 2);
  EXPECT_EQ(l->settle(*a.reservation, 10, 10, "completed").cost_micros, 20);
  EXPECT_EQ(l->settle(*b.reservation, 10, 10, "completed").cost_micros, 60);
  auto rows = raw()->query("SELECT request_id, price_version, cost_micros FROM ledger WHERE kind = 'commit' ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(*rows[0][1], "1");
  EXPECT_EQ(*rows[0][2], "20");
  EXPECT_EQ(*rows[1][1], "2");
  EXPECT_EQ(l->prices().size(), 2u);
}

TEST_P(LedgerContract, IdempotencyKeyReplaysTheSettledResponse) {
  auto l = open();
  l->put_plan(make_plan("p"));
  KeyInfo k, other;
  l->create_key("acme", "p", "", &k);
  l->create_key("zeta", "p", "", &other);
  auto a = l->reserve(k, "r1", "m", 5, 5, "idem-1");
  ASSERT_TRUE(a.ok && a.reservation);
  auto busy = l->reserve(k, "r2", "m", 5, 5, "idem-1");
  EXPECT_FALSE(busy.ok);
  EXPECT_EQ(busy.code, "idempotency_in_progress");
  l->settle(*a.reservation, 5, 3, "completed", R"({"id":"r1"})");
  auto again = l->reserve(k, "r3", "m", 5, 5, "idem-1");
  EXPECT_TRUE(again.ok);
  EXPECT_FALSE(again.reservation.has_value());
  ASSERT_TRUE(again.replay_response_json.has_value());
  EXPECT_EQ(*again.replay_response_json, R"({"id":"r1"})");
  EXPECT_TRUE(l->reserve(other, "r4", "m", 5, 5, "idem-1").reservation.has_value());  // keys are separate
  // A failed attempt may be retried under the same key.
  auto f = l->reserve(k, "r5", "m", 5, 5, "idem-2");
  l->settle(*f.reservation, 5, 0, "failed");
  EXPECT_TRUE(l->reserve(k, "r6", "m", 5, 5, "idem-2").reservation.has_value());
}

TEST_P(LedgerContract, RecoverInterruptsOnlyThisInstancesOpenReservations) {
  {
    auto l = open("srv1");
    l->set_price("m", 1000000, 5000000);
    l->put_plan(make_plan("p"));
    KeyInfo k;
    l->create_key("acme", "p", "", &k);
    auto done = l->reserve(k, "r1", "m", 10, 10);
    l->settle(*done.reservation, 10, 2, "completed");
    ASSERT_TRUE(l->reserve(k, "r2", "m", 7, 100).ok);   // left open: the process "crashes"
    auto other = open("srv2");
    ASSERT_TRUE(other->reserve(k, "r3", "m", 3, 3).ok);  // another live server's
  }
  auto l = open("srv1");
  EXPECT_EQ(l->open_reservations(), 2);
  EXPECT_EQ(l->recover(), 1);
  EXPECT_EQ(l->open_reservations(), 1);
  auto rows = raw()->query(
      "SELECT status, prompt_tokens, completion_tokens, cost_micros, price_version FROM ledger WHERE kind = 'interrupt'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(*rows[0][0], "interrupted");
  EXPECT_EQ(*rows[0][1], "7");
  EXPECT_EQ(*rows[0][2], "0");
  EXPECT_EQ(*rows[0][3], "7");  // the prompt at the reserved price
  EXPECT_EQ(*rows[0][4], "1");
  expect_counters_consistent(*l);
  EXPECT_EQ(l->recover(), 0);
  auto usage = l->usage(0, std::numeric_limits<int64_t>::max(), "model");
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].requests, 2);
  EXPECT_EQ(usage[0].interrupted, 1);
  EXPECT_EQ(usage[0].revenue_micros, 10 + 10 + 7);
}

TEST_P(LedgerContract, RecoverRebuildsDamagedCounters) {
  auto l = open();
  l->put_plan(make_plan("p"));
  KeyInfo k;
  l->create_key("acme", "p", "", &k);
  ASSERT_TRUE(l->reserve(k, "r1", "m", 4, 4).ok);
  raw()->query("UPDATE counters SET tokens = tokens + 1000");
  EXPECT_NE(l->counters()[0].tokens, l->counters_from_ledger()[0].tokens);
  l->recover();
  expect_counters_consistent(*l);
}

// Many threads on one Ledger (one server), and for concurrency between
// processes, a second Ledger object on the same database.
TEST_P(LedgerContract, ConcurrentTrafficNeverOverrunsTheBudget) {
  constexpr int64_t kBudget = 5000;
  {
    auto setup = open();
    setup->set_price("m", 1000000, 1000000);
    Plan p = make_plan("small");
    p.budget_micros = kBudget;
    p.period = "total";
    setup->put_plan(p);
  }
  auto l1 = open("a"), l2 = open("b");
  KeyInfo k1, k2;
  l1->create_key("acme", "small", "one", &k1);
  l1->create_key("acme", "small", "two", &k2);
  std::atomic<int> admitted{0}, denied{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      Ledger& l = t % 2 ? *l2 : *l1;
      const KeyInfo& k = t % 4 < 2 ? k1 : k2;
      std::mt19937 rng{static_cast<unsigned>(t)};
      for (int i = 0; i < 25; ++i) {
        auto a = l.reserve(k, "t" + std::to_string(t) + "-" + std::to_string(i), "m", 20, 60);
        if (!a.ok) {
          EXPECT_EQ(a.code, "insufficient_quota");
          ++denied;
          continue;
        }
        ++admitted;
        l.settle(*a.reservation, 20, int64_t(rng() % 90), "completed");  // beyond 60 is clamped
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(denied.load(), 0);  // the budget ran out
  EXPECT_LE(total_revenue(*l1), kBudget);
  EXPECT_EQ(l1->open_reservations(), 0);
  expect_counters_consistent(*l1);
  for (const auto& c : l2->counters()) EXPECT_EQ(c.open_requests, 0);
}

INSTANTIATE_TEST_SUITE_P(LedgerSqlite, LedgerContract, ::testing::Values("sqlite"));
INSTANTIATE_TEST_SUITE_P(LedgerPg, LedgerContract, ::testing::Values("postgres"));
