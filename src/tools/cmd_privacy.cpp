// `tessera privacy`: the RDP accountant (privacy/accountant.h) from the
// command line, for planning a DP-SGD run before training:
//   epsilon  what (sample rate, noise multiplier, steps) spend at a delta
//   noise    the noise multiplier that keeps a run within a target epsilon
// Bad values are the library's one-line errors (exit 1); malformed flags are
// CLI11's usage errors (exit 2).
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "tessera/privacy/accountant.h"

using nlohmann::json;

namespace tessera::cli {
namespace {

struct PrivacyArgs {
  double sample_rate = 0, noise_multiplier = 0, delta = 0, target_epsilon = 0, epsilon_tolerance = 0.01;
  int64_t steps = 0;
  std::string format = "text";
};

// Opacus warns in the same place: the best order at either end of the
// searched range means a wider range could give a smaller epsilon.
void note_edge_alpha(double best_alpha) {
  const auto& a = privacy::default_alphas();
  if (best_alpha == a.front() || best_alpha == a.back())
    std::cerr << "note: the best RDP order is the " << (best_alpha == a.front() ? "smallest" : "largest")
              << " searched (" << best_alpha << "); epsilon is an upper bound that more orders could tighten\n";
}

int run_epsilon(const PrivacyArgs& a) {
  privacy::RdpAccountant acc;
  acc.step(a.noise_multiplier, a.sample_rate, a.steps);
  const privacy::PrivacySpent s = acc.epsilon(a.delta);
  note_edge_alpha(s.best_alpha);
  if (a.format == "json") {
    std::cout << json({{"epsilon", s.epsilon},
                       {"best_alpha", s.best_alpha},
                       {"delta", a.delta},
                       {"sample_rate", a.sample_rate},
                       {"noise_multiplier", a.noise_multiplier},
                       {"steps", a.steps},
                       {"accountant", "rdp"}})
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("epsilon: %.10g\nbest alpha: %.10g\n", s.epsilon, s.best_alpha);
  return 0;
}

int run_noise(const PrivacyArgs& a) {
  const double sigma =
      privacy::noise_multiplier_for(a.target_epsilon, a.delta, a.sample_rate, a.steps, a.epsilon_tolerance);
  privacy::RdpAccountant acc;
  acc.step(sigma, a.sample_rate, a.steps);
  const privacy::PrivacySpent s = acc.epsilon(a.delta);
  if (a.format == "json") {
    std::cout << json({{"noise_multiplier", sigma},
                       {"epsilon", s.epsilon},
                       {"best_alpha", s.best_alpha},
                       {"target_epsilon", a.target_epsilon},
                       {"epsilon_tolerance", a.epsilon_tolerance},
                       {"delta", a.delta},
                       {"sample_rate", a.sample_rate},
                       {"steps", a.steps},
                       {"accountant", "rdp"}})
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("noise multiplier: %.10g\nepsilon: %.10g (target %.10g, tolerance %.10g)\nbest alpha: %.10g\n", sigma,
              s.epsilon, a.target_epsilon, a.epsilon_tolerance, s.best_alpha);
  return 0;
}

}  // namespace

Command add_privacy_command(CLI::App& app) {
  auto a = std::make_shared<PrivacyArgs>();
  auto* cmd = app.add_subcommand("privacy", "Differential-privacy accounting (RDP, as Opacus's RDPAccountant)");
  cmd->require_subcommand(1);

  auto* eps = cmd->add_subcommand("epsilon", "Epsilon spent by DP-SGD steps at a delta, and the best RDP order");
  eps->add_option("--sample-rate", a->sample_rate, "probability that an example is in a batch, in (0, 1]")->required();
  eps->add_option("--noise-multiplier", a->noise_multiplier, "noise standard deviation / clipping norm")->required();
  eps->add_option("--steps", a->steps, "optimizer steps taken")->required();
  eps->add_option("--delta", a->delta, "target delta, in (0, 1)")->required();
  eps->add_option("--format", a->format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));

  auto* noise = cmd->add_subcommand("noise", "Noise multiplier that keeps the steps within a target epsilon");
  noise->add_option("--target-epsilon", a->target_epsilon, "privacy budget epsilon")->required();
  noise->add_option("--sample-rate", a->sample_rate, "probability that an example is in a batch, in (0, 1]")
      ->required();
  noise->add_option("--steps", a->steps, "optimizer steps planned")->required();
  noise->add_option("--delta", a->delta, "target delta, in (0, 1)")->required();
  noise->add_option("--epsilon-tolerance", a->epsilon_tolerance,
                    "how far below the target the epsilon may end (Opacus's default 0.01)");
  noise->add_option("--format", a->format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));

  return {cmd, [a, eps, noise]() -> int {
            if (eps->parsed()) return run_epsilon(*a);
            if (noise->parsed()) return run_noise(*a);
            return 2;
          }};
}

}  // namespace tessera::cli
