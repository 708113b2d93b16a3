// Money arithmetic, decimal parsing, calendar periods and key material.
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "billing/keys.h"
#include "tessera/billing/ledger.h"
#include "tessera/billing/money.h"
#include "tessera/core/error.h"

using namespace tessera;
using namespace tessera::billing;

TEST(BillingMoney, CostRoundsUpToTheMicro) {
  Price p{"m", 1, 500000, 1500000, 0};  // $0.50 and $1.50 per million tokens
  EXPECT_EQ(cost_micros(p, 0, 0), 0);
  EXPECT_EQ(cost_micros(p, 1, 0), 1);   // 0.5 micro -> 1
  EXPECT_EQ(cost_micros(p, 2, 0), 1);   // exactly 1
  EXPECT_EQ(cost_micros(p, 3, 0), 2);   // 1.5 -> 2
  EXPECT_EQ(cost_micros(p, 1000, 1000), 2000);
  EXPECT_EQ(cost_micros(p, 1000001, 0), 500001);  // 500000.5 -> 500001
  EXPECT_EQ(cost_micros(Price{"free"}, 123456, 654321), 0);
}

TEST(BillingMoney, CostIsExactBeyond64BitProducts) {
  // 1e12 tokens at 1e12 micros/Mtok: the product (1e24) needs 128 bits; the cost fits.
  Price p{"m", 1, 1000000000000, 0, 0};
  EXPECT_EQ(cost_micros(p, 1000000000000, 0), 1000000000000000000);
  Price q{"m", 1, 0, 3, 0};
  EXPECT_EQ(cost_micros(q, 0, 3333333333333333333), 10000000000000);  // 9999999999999.999999 -> up
  Price huge{"m", 1, std::numeric_limits<int64_t>::max(), 0, 0};
  EXPECT_THROW(cost_micros(huge, std::numeric_limits<int64_t>::max(), 0), Error);
  EXPECT_THROW(cost_micros(p, -1, 0), Error);
}

TEST(BillingMoney, DecimalsParseExactly) {
  EXPECT_EQ(parse_micros("0.50"), 500000);
  EXPECT_EQ(parse_micros("12"), 12000000);
  EXPECT_EQ(parse_micros("0.000001"), 1);
  EXPECT_EQ(parse_micros("1.2300000"), 1230000);  // trailing zeros beyond micros are exact
  EXPECT_EQ(parse_micros(".5"), 500000);
  EXPECT_EQ(parse_micros("9223372036854.775807"), std::numeric_limits<int64_t>::max());
  for (const char* bad : {"", ".", "1.", "0.0000001", "-1", "1e3", "1,5", "abc", "9223372036854.775808", " 1"})
    EXPECT_THROW(parse_micros(bad, "--budget"), Error) << bad;
  try {
    parse_micros("0.1234567", "--input");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--input"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("6 decimals"), std::string::npos) << e.what();
  }
  EXPECT_EQ(format_micros(1234567), "1.234567");
  EXPECT_EQ(format_micros(0), "0.000000");
  EXPECT_EQ(format_micros(-5), "-0.000005");
  EXPECT_EQ(format_micros(std::numeric_limits<int64_t>::min()), "-9223372036854.775808");
}

TEST(BillingMoney, DatesAndPeriodsAreUtcCalendar) {
  EXPECT_EQ(parse_day_or_unix("2024-02-29"), 1709164800);
  EXPECT_EQ(parse_day_or_unix("1709164800"), 1709164800);
  EXPECT_EQ(parse_day_or_unix("1970-01-01"), 0);
  for (const char* bad : {"2023-02-29", "2024-13-01", "2024-1-01", "yesterday", "", "2024-02-30"})
    EXPECT_THROW(parse_day_or_unix(bad, "--from"), Error) << bad;
  EXPECT_EQ(format_day(1709164800000 + 86399999), "2024-02-29");
  const int64_t mid_march = 1710460800000;  // 2024-03-15
  EXPECT_EQ(format_day(period_start_ms("month", mid_march)), "2024-03-01");
  EXPECT_EQ(format_day(period_end_ms("month", mid_march)), "2024-04-01");
  EXPECT_EQ(format_day(period_end_ms("month", 1734220800000)), "2025-01-01");  // from 2024-12-15
  EXPECT_EQ(period_start_ms("day", mid_march + 5000), mid_march);
  EXPECT_EQ(period_end_ms("day", mid_march), mid_march + 86400000);
  EXPECT_EQ(period_start_ms("total", mid_march), 0);
  EXPECT_THROW(period_start_ms("week", mid_march), Error);
}

TEST(BillingKeys, KeysAreRandomBase62AndHashedWithSha256) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string k = generate_api_key();
    ASSERT_EQ(k.size(), 44u);
    EXPECT_EQ(k.substr(0, 4), "tsk-");
    EXPECT_EQ(k.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 4), std::string::npos);
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

TEST(BillingPlan, EmptyModelListAllowsEveryModel) {
  Plan p;
  EXPECT_TRUE(p.allows("anything"));
  p.allowed_models = {"a", "b"};
  EXPECT_TRUE(p.allows("b"));
  EXPECT_FALSE(p.allows("c"));
}
