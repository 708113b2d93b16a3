// `tessera privacy epsilon` and `tessera privacy noise`: the accountant's
// numbers on stdout (text and JSON, equal to Opacus's goldens), bad values as
// one line with exit 1, malformed flags as usage errors with exit 2.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"

using nlohmann::json;
using tessera::test_util::run_tessera;

namespace {

// The first golden single run and noise solve (tests/fixtures/privacy/rdp_golden.json).
json golden_case(const char* section, size_t index) {
  std::ifstream in(std::string(TESSERA_TESTS_DIR) + "/fixtures/privacy/rdp_golden.json");
  return json::parse(in)[section][index];
}

std::string flag(const char* name, double v) {
  std::ostringstream os;
  os.precision(17);
  os << " --" << name << " " << v;
  return os.str();
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST(PrivacyCli, EpsilonMatchesOpacus) {
  const json c = golden_case("single", 6);  // q 0.01, sigma 1, 10,000 steps, delta 1e-5
  const std::string args = "privacy epsilon" + flag("sample-rate", c["sample_rate"]) +
                           flag("noise-multiplier", c["noise_multiplier"]) + " --steps " +
                           std::to_string(c["steps"].get<int64_t>()) + flag("delta", c["delta"]);
  auto [rc, out] = run_tessera(args + " --format json", "2>/dev/null");
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  const double want = c["epsilon"];
  EXPECT_LE(std::abs(j["epsilon"].get<double>() - want) / want, 1e-6) << out;
  EXPECT_EQ(j["best_alpha"].get<double>(), c["best_alpha"].get<double>());
  auto [rc2, text] = run_tessera(args, "2>/dev/null");
  ASSERT_EQ(rc2, 0) << text;
  EXPECT_NE(text.find("epsilon: "), std::string::npos) << text;
  EXPECT_NE(text.find("best alpha: "), std::string::npos) << text;
}

TEST(PrivacyCli, NoiseMatchesOpacus) {
  const json c = golden_case("noise", 1);  // target 1 at q 0.01, 10,000 steps, delta 1e-5
  const std::string args = "privacy noise" + flag("target-epsilon", c["target_epsilon"]) +
                           flag("sample-rate", c["sample_rate"]) + " --steps " +
                           std::to_string(c["steps"].get<int64_t>()) + flag("delta", c["delta"]) + " --format json";
  auto [rc, out] = run_tessera(args, "2>/dev/null");
  ASSERT_EQ(rc, 0) << out;
  const json j = json::parse(out);
  EXPECT_DOUBLE_EQ(j["noise_multiplier"].get<double>(), c["noise_multiplier"].get<double>()) << out;
  EXPECT_LE(j["epsilon"].get<double>(), c["target_epsilon"].get<double>());
}

TEST(PrivacyCli, BadValuesAreOneLineErrors) {
  const std::string ok = " --noise-multiplier 1 --steps 10 --delta 1e-5";
  struct Case {
    std::string args, names;
  };
  const Case cases[] = {
      {"privacy epsilon --sample-rate 1.5" + ok, "sample rate"},
      {"privacy epsilon --sample-rate 0 " + ok, "sample rate"},
      {"privacy epsilon --sample-rate 0.1 --noise-multiplier 0 --steps 10 --delta 1e-5", "noise multiplier"},
      {"privacy epsilon --sample-rate 0.1 --noise-multiplier -2 --steps 10 --delta 1e-5", "noise multiplier"},
      {"privacy epsilon --sample-rate 0.1 --noise-multiplier 1 --steps 0 --delta 1e-5", "steps"},
      {"privacy epsilon --sample-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1", "delta"},
      {"privacy noise --target-epsilon 0 --sample-rate 0.01 --steps 100 --delta 1e-5", "target epsilon"},
      {"privacy noise --target-epsilon 0.05 --sample-rate 0.01 --steps 1000 --delta 1e-5", "cannot be reached"},
  };
  for (const auto& c : cases) {
    auto [rc, err] = run_tessera(c.args);
    EXPECT_EQ(rc, 1) << c.args << ": " << err;
    EXPECT_NE(err.find(c.names), std::string::npos) << c.args << ": " << err;
    EXPECT_EQ(lines(err), 1) << c.args << ": " << err;
  }
  // Missing or malformed flags are CLI11's usage errors.
  auto [rc, err] = run_tessera("privacy epsilon --sample-rate 0.1 --steps 10 --delta 1e-5");
  EXPECT_EQ(rc, 2) << err;
  EXPECT_NE(err.find("--noise-multiplier"), std::string::npos) << err;
  auto [rc2, err2] = run_tessera("privacy epsilon --sample-rate x --noise-multiplier 1 --steps 10 --delta 1e-5");
  EXPECT_EQ(rc2, 2) << err2;
}
