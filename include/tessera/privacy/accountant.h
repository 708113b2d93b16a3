// Privacy accounting for DP-SGD: how much (epsilon, delta)-differential
// privacy a run of the sampled Gaussian mechanism has spent, by Renyi DP
// (Mironov 2017; the sampled Gaussian analysis of Mironov, Talwar and Zhang
// 2019, arXiv:1908.10530) and the RDP -> (epsilon, delta) conversion of Balle
// et al. 2020 (arXiv:1905.09982, Theorem 21).
//
// The arithmetic is Opacus's (opacus/accountants/analysis/rdp.py,
// RDPAccountant, utils.get_noise_multiplier), step for step, so that an
// epsilon reported here is the number a PyTorch user of Opacus would get for
// the same settings: tests/privacy/test_rdp_accountant.cpp holds it to
// Opacus's values within 1e-6 relative (goldens from
// tests/privacy/gen_rdp_golden.py).
#pragma once
#include <cstdint>
#include <vector>

namespace tessera::privacy {

// The RDP orders Opacus searches by default: 1.1, 1.2, ..., 10.9, then 12 .. 63.
// The best order is the one giving the smallest epsilon.
const std::vector<double>& default_alphas();

// RDP at order `alpha` of one step of the sampled Gaussian mechanism: each
// example is in the batch with probability `sample_rate`, and Gaussian noise
// of standard deviation noise_multiplier x (the clipping norm) is added to the
// summed gradients. Opacus's edge cases hold: sample_rate 0 -> 0, noise 0 or
// alpha infinite -> infinity, sample_rate 1 -> alpha / (2 sigma^2) (the plain
// Gaussian mechanism). Throws tessera::Error for a sample rate outside
// [0, 1], a negative or NaN noise multiplier, or alpha <= 1.
double sampled_gaussian_rdp(double sample_rate, double noise_multiplier, double alpha);

// Epsilon and the order it was read at.
struct PrivacySpent {
  double epsilon = 0;
  double best_alpha = 0;
};

// Converts RDP values (one per order) into (epsilon, delta)-DP at the order
// that gives the smallest epsilon: eps = rdp - (log(delta) + log(a)) / (a - 1)
// + log((a - 1) / a). Orders whose epsilon is NaN are skipped; all NaN gives
// (infinity, NaN), as Opacus does.
PrivacySpent rdp_to_epsilon(const std::vector<double>& alphas, const std::vector<double>& rdp, double delta);

// One run of steps with fixed settings.
struct MechanismSteps {
  double noise_multiplier = 0;
  double sample_rate = 0;
  int64_t steps = 0;
};

// The privacy spent by a training run so far. Like Opacus's RDPAccountant it
// keeps a history of (noise multiplier, sample rate, steps) and merges a step
// into the last entry when the settings did not change, so a run whose noise
// or batch size changes composes (RDP adds up over steps at each order).
class RdpAccountant {
 public:
  // alphas: the orders searched (default_alphas() unless told), each > 1.
  RdpAccountant();
  explicit RdpAccountant(std::vector<double> alphas);

  // Records `steps` steps at these settings. Throws tessera::Error (naming the
  // argument) for a sample rate outside (0, 1], a noise multiplier that is not
  // a positive finite number, or steps < 1.
  void step(double noise_multiplier, double sample_rate, int64_t steps = 1);

  // Epsilon for this delta (in (0, 1)) after every recorded step, and the best
  // order; (0, 0) before any step.
  PrivacySpent epsilon(double delta) const;

  const std::vector<MechanismSteps>& history() const { return history_; }
  const std::vector<double>& alphas() const { return alphas_; }
  int64_t total_steps() const;

 private:
  std::vector<double> alphas_;
  std::vector<MechanismSteps> history_;
};

// The noise multiplier that keeps `steps` steps at `sample_rate` within
// (target_epsilon, delta), solved before training as Opacus's
// get_noise_multiplier does: sigma doubled from 20 until epsilon <= target,
// then bisection on [0, sigma] until target - epsilon <= epsilon_tolerance; the
// upper end is returned, so its epsilon is in [target - tolerance, target].
// Throws tessera::Error for a non-positive target or tolerance, bad
// arguments as above, and a target that needs a noise multiplier above
// Opacus's limit of 1e6 (the message gives the largest noise tried and its
// epsilon).
double noise_multiplier_for(double target_epsilon, double delta, double sample_rate, int64_t steps,
                            double epsilon_tolerance = 0.01);

}  // namespace tessera::privacy
