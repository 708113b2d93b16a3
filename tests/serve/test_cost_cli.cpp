// `tessera cost`: measures tokens/s through the serving engine, turns the
// hourly price into a cost per million generated tokens, records it in the
// ledger and flags a price below it; `usage report` then shows the margin.
#include <gtest/gtest.h>

#include <cmath>

#include "cli_util.h"
#include "tessera/billing/ledger.h"
#include "test_server_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;
using test_util::run_tessera;

TEST(CostCli, MeasuresRecordsAndFlagsUnderCost) {
  fs::path root = fs::temp_directory_path() / ("tessera_cost_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  fs::path ck = test_util::write_tiny_checkpoint(root, "tiny-run", 64);
  const std::string db = (root / "ledger.db").string();
  {
    auto l = billing::Ledger::open(db, "test");
    l->set_price("tiny-run", 1, 2);  // 0.000002 per million output tokens: surely under cost
  }
  const std::string common = "cost --checkpoint " + ck.string() + " --db " + db +
                             " --concurrency 2 --prompt-tokens 4 --new-tokens 4 --threads 1 --format json";
  auto [rc, out] = run_tessera(common + " --hourly-price 3.60", "2>/dev/null");
  ASSERT_EQ(rc, 0) << out;
  json j = json::parse(out);
  const double tps = j.at("tokens_per_second").get<double>();
  ASSERT_GT(tps, 0);
  // 3.60 per hour = 3,600,000 micros; per million tokens: 3.6e6 * 1e6 / (tps * 3600), rounded up.
  const int64_t expect = static_cast<int64_t>(std::ceil(3.6e6 * 1e6 / (tps * 3600.0)));
  EXPECT_NEAR(static_cast<double>(j.at("cost_micros_per_mtok").get<int64_t>()), static_cast<double>(expect), 1.0);
  EXPECT_EQ(j.at("model"), "tiny-run");  // the served model's default id
  EXPECT_TRUE(j.at("under_cost").get<bool>());
  EXPECT_EQ(j.at("price_version"), 1);
  EXPECT_EQ(j.at("prefill_chunk"), 256);  // the engine's default

  auto l = billing::Ledger::open(db, "test");
  auto cost = l->cost("tiny-run");
  ASSERT_TRUE(cost.has_value());
  EXPECT_EQ(cost->micros_per_mtok, j.at("cost_micros_per_mtok").get<int64_t>());
  EXPECT_EQ(cost->hourly_price_micros, 3600000);

  // A price far above any cost is not flagged; prompts prefilled 2 tokens a step.
  l->set_price("tiny-run", 1, 1000000000000);
  auto [rc2, out2] = run_tessera(common + " --hourly-price 0.01 --prefill-chunk 2", "2>/dev/null");
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_FALSE(json::parse(out2).at("under_cost").get<bool>());
  EXPECT_EQ(json::parse(out2).at("prefill_chunk"), 2);

  // Bad input: one clear line, non-zero exit.
  auto [rc3, err3] = run_tessera(common + " --hourly-price 2.5x");
  EXPECT_NE(rc3, 0);
  EXPECT_NE(err3.find("--hourly-price"), std::string::npos) << err3;
  auto [rc4, err4] = run_tessera("cost --checkpoint " + (root / "nope").string() + " --hourly-price 1");
  EXPECT_NE(rc4, 0);
  EXPECT_NE(err4.find("nope"), std::string::npos) << err4;
  fs::remove_all(root);
}
