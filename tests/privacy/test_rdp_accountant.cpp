// The RDP accountant against Opacus 1.6's RDPAccountant: epsilons within 1e-6
// relative and the same best order on every golden setting
// (tests/fixtures/privacy/rdp_golden.json, written by gen_rdp_golden.py; set
// TESSERA_RDP_GOLDEN to replay another draw), runs whose settings change,
// per-order RDP, the noise multiplier solved for a target epsilon, and the
// bad-input errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "tessera/core/error.h"
#include "tessera/privacy/accountant.h"

using namespace tessera::privacy;
using nlohmann::json;

namespace {

constexpr double kRelTol = 1e-6;

const json& golden() {
  static const json g = [] {
    const char* env = std::getenv("TESSERA_RDP_GOLDEN");
    const std::string path = env ? env : std::string(TESSERA_TESTS_DIR) + "/fixtures/privacy/rdp_golden.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    return json::parse(in);
  }();
  return g;
}

double rel_err(double got, double want) { return std::abs(got - want) / std::max(std::abs(want), 1e-300); }

// The message of the tessera::Error that f throws ("" if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tessera::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RdpAccountant, DefaultAlphasAreOpacus) {
  const auto& a = default_alphas();
  ASSERT_EQ(a.size(), 151u);  // 99 fractional-step orders + 12..63
  const auto& g = golden()["rdp"][0]["alphas"];
  ASSERT_EQ(g.size(), a.size());
  for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k], g[k].get<double>()) << k;
}

TEST(RdpAccountant, SingleRunsMatchOpacus) {
  const auto& cases = golden()["single"];
  ASSERT_GE(cases.size(), 60u);
  double worst = 0;
  for (const auto& c : cases) {
    RdpAccountant acc;
    acc.step(c["noise_multiplier"], c["sample_rate"], c["steps"].get<int64_t>());
    const PrivacySpent s = acc.epsilon(c["delta"]);
    const double want = c["epsilon"];
    const double err = rel_err(s.epsilon, want);
    worst = std::max(worst, err);
    EXPECT_LE(err, kRelTol) << c.dump() << " got " << s.epsilon;
    EXPECT_EQ(s.best_alpha, c["best_alpha"].get<double>()) << c.dump();
  }
  std::printf("[ rdp ] %zu settings, worst epsilon relative error vs Opacus %.3g\n", cases.size(), worst);
}

TEST(RdpAccountant, ComposedRunsMatchOpacus) {
  double worst = 0;
  for (const auto& c : golden()["composed"]) {
    RdpAccountant acc;
    for (const auto& h : c["history"]) acc.step(h[0], h[1], h[2].get<int64_t>());
    // Equal consecutive settings merge into one entry, as Opacus's step() does.
    const auto& merged = c["merged_history"];
    ASSERT_EQ(acc.history().size(), merged.size()) << c.dump();
    for (size_t k = 0; k < merged.size(); ++k) {
      EXPECT_EQ(acc.history()[k].noise_multiplier, merged[k][0].get<double>());
      EXPECT_EQ(acc.history()[k].sample_rate, merged[k][1].get<double>());
      EXPECT_EQ(acc.history()[k].steps, merged[k][2].get<int64_t>());
    }
    const PrivacySpent s = acc.epsilon(c["delta"]);
    worst = std::max(worst, rel_err(s.epsilon, c["epsilon"]));
    EXPECT_LE(rel_err(s.epsilon, c["epsilon"]), kRelTol) << c.dump() << " got " << s.epsilon;
    EXPECT_EQ(s.best_alpha, c["best_alpha"].get<double>()) << c.dump();
  }
  std::printf("[ rdp ] %zu composed runs, worst epsilon relative error vs Opacus %.3g\n", golden()["composed"].size(),
              worst);
}

TEST(RdpAccountant, CompositionIsTheSumOfTheRuns) {
  // One step at a time gives what one call with the count gives.
  RdpAccountant by_one, at_once;
  for (int i = 0; i < 250; ++i) by_one.step(1.2, 0.02);
  at_once.step(1.2, 0.02, 250);
  ASSERT_EQ(by_one.history().size(), 1u);
  EXPECT_EQ(by_one.epsilon(1e-5).epsilon, at_once.epsilon(1e-5).epsilon);
  // More steps or a second run never spend less.
  RdpAccountant two = at_once;
  two.step(3.0, 0.02, 10);
  EXPECT_EQ(two.total_steps(), 260);
  EXPECT_GT(two.epsilon(1e-5).epsilon, at_once.epsilon(1e-5).epsilon);
  // Before any step nothing is spent.
  const PrivacySpent none = RdpAccountant().epsilon(1e-5);
  EXPECT_EQ(none.epsilon, 0);
  EXPECT_EQ(none.best_alpha, 0);
}

TEST(RdpAccountant, PerOrderRdpMatchesOpacus) {
  double worst = 0;
  for (const auto& c : golden()["rdp"]) {
    const auto& alphas = c["alphas"];
    for (size_t k = 0; k < alphas.size(); ++k) {
      const double got = sampled_gaussian_rdp(c["sample_rate"], c["noise_multiplier"], alphas[k]);
      const double want = c["rdp"][k];
      worst = std::max(worst, rel_err(got, want));
      EXPECT_LE(rel_err(got, want), kRelTol) << c["noise_multiplier"] << " " << c["sample_rate"] << " alpha "
                                             << alphas[k] << ": " << got << " vs " << want;
    }
  }
  std::printf("[ rdp ] per-order RDP, worst relative error vs Opacus %.3g\n", worst);
}

TEST(RdpAccountant, EdgeCasesAreOpacus) {
  EXPECT_EQ(sampled_gaussian_rdp(0.0, 1.0, 2.5), 0.0);           // never sampled
  EXPECT_TRUE(std::isinf(sampled_gaussian_rdp(0.1, 0.0, 2.5)));  // no noise
  EXPECT_EQ(sampled_gaussian_rdp(1.0, 2.0, 3.0), 3.0 / 8.0);     // plain Gaussian: alpha / (2 sigma^2)
  EXPECT_TRUE(std::isinf(sampled_gaussian_rdp(0.1, 1.0, std::numeric_limits<double>::infinity())));
  // Infinite RDP at every order: epsilon is infinite, read at the first order.
  const std::vector<double> alphas = {2, 3};
  const PrivacySpent inf = rdp_to_epsilon(alphas, {INFINITY, INFINITY}, 1e-5);
  EXPECT_TRUE(std::isinf(inf.epsilon));
  EXPECT_EQ(inf.best_alpha, 2);
  const PrivacySpent nan = rdp_to_epsilon(alphas, {NAN, NAN}, 1e-5);
  EXPECT_TRUE(std::isinf(nan.epsilon));
  EXPECT_TRUE(std::isnan(nan.best_alpha));
}

TEST(RdpAccountant, NoiseMultiplierMatchesOpacus) {
  const auto& cases = golden()["noise"];
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    const double target = c["target_epsilon"], tol = c["epsilon_tolerance"];
    const double sigma = noise_multiplier_for(target, c["delta"], c["sample_rate"], c["steps"].get<int64_t>(), tol);
    // The same doubling and bisection take the same branches, so the sigma is
    // Opacus's to rounding, and its epsilon lies in Opacus's band
    // [target - epsilon_tolerance, target].
    EXPECT_LE(rel_err(sigma, c["noise_multiplier"]), 1e-12) << c.dump() << " got " << sigma;
    RdpAccountant acc;
    acc.step(sigma, c["sample_rate"], c["steps"].get<int64_t>());
    const double eps = acc.epsilon(c["delta"]).epsilon;
    EXPECT_LE(rel_err(eps, c["epsilon_at_noise"]), kRelTol) << c.dump();
    EXPECT_LE(eps, target);
    EXPECT_GE(eps, target - tol);
  }
}

TEST(RdpAccountant, BadInputNamesTheArgument) {
  RdpAccountant acc;
  EXPECT_NE(error_of([&] { acc.step(1.0, 0.0); }).find("sample rate"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.step(1.0, 1.5); }).find("sample rate"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.step(0.0, 0.1); }).find("noise multiplier"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.step(-1.0, 0.1); }).find("noise multiplier"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.step(INFINITY, 0.1); }).find("noise multiplier"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.step(NAN, 0.1); }).find("noise multiplier"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.step(1.0, 0.1, 0); }).find("steps"), std::string::npos);
  EXPECT_TRUE(acc.history().empty());  // nothing half-recorded
  acc.step(1.0, 0.1);
  EXPECT_NE(error_of([&] { acc.epsilon(0.0); }).find("delta"), std::string::npos);
  EXPECT_NE(error_of([&] { acc.epsilon(1.0); }).find("delta"), std::string::npos);
  EXPECT_NE(error_of([&] { noise_multiplier_for(0.0, 1e-5, 0.01, 100); }).find("target epsilon"), std::string::npos);
  EXPECT_NE(error_of([&] { noise_multiplier_for(-1.0, 1e-5, 0.01, 100); }).find("target epsilon"), std::string::npos);
  EXPECT_NE(error_of([&] { noise_multiplier_for(1.0, 1e-5, 0.01, 100, 0.0); }).find("epsilon tolerance"),
            std::string::npos);
  EXPECT_NE(error_of([&] { noise_multiplier_for(1.0, 1e-5, 2.0, 100); }).find("sample rate"), std::string::npos);
  EXPECT_NE(error_of([&] { noise_multiplier_for(1.0, 1e-5, 0.01, 0); }).find("steps"), std::string::npos);
  EXPECT_NE(error_of([&] { noise_multiplier_for(1.0, 2.0, 0.01, 100); }).find("delta"), std::string::npos);
  // With Opacus's default orders the (epsilon, delta) conversion alone costs
  // about 0.1 at delta 1e-5, whatever the noise: a smaller target is out of reach.
  const std::string e = error_of([&] { noise_multiplier_for(0.05, 1e-5, 0.01, 1000); });
  EXPECT_NE(e.find("cannot be reached"), std::string::npos) << e;
  EXPECT_NE(e.find("655360"), std::string::npos) << e;  // the largest noise tried within 1e6
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}
