// RDP accounting of the sampled Gaussian mechanism, in Opacus's arithmetic
// (opacus/accountants/analysis/rdp.py, accountants/rdp.py, accountants/utils.py
// of Opacus 1.6): the same sums in the same order, the same loop ends and edge
// cases, so epsilons agree with Opacus to rounding (the test asks 1e-6
// relative). Where our building blocks differ from scipy's (binomial
// coefficients, log erfc) they are at least as accurate.
#include "tessera/privacy/accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "tessera/core/error.h"

namespace tessera::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Opacus's utils.MAX_SIGMA: get_noise_multiplier gives up past this noise.
constexpr double kMaxSigma = 1e6;

std::string num(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

void check_sample_rate(double q) { TSR_CHECK(q > 0 && q <= 1, Error, "sample rate must be in (0, 1], got ", num(q)); }
void check_noise(double sigma) {
  TSR_CHECK(std::isfinite(sigma) && sigma > 0, Error, "noise multiplier must be a positive finite number, got ",
            num(sigma));
}
void check_steps(int64_t steps) { TSR_CHECK(steps >= 1, Error, "steps must be at least 1, got ", steps); }
void check_delta(double delta) {
  TSR_CHECK(delta > 0 && delta < 1, Error, "delta must be in (0, 1), got ", num(delta));
}

// log(e^x + e^y) without leaving log space: the terms of A_alpha span
// hundreds of orders of magnitude. -inf stands for 0.
double log_add(double logx, double logy) {
  const double a = std::min(logx, logy), b = std::max(logx, logy);
  if (a == -kInf) return b;
  return std::log1p(std::exp(a - b)) + b;
}

// log(e^x - e^y), x >= y: the fractional-order series alternates in sign.
double log_sub(double logx, double logy) {
  TSR_CHECK(logx >= logy, Error, "privacy accounting: a log-space subtraction went negative (", num(logx), " - ",
            num(logy), "); the RDP series did not converge for these settings");
  if (logy == -kInf) return logx;
  if (logx == logy) return -kInf;
  const double d = std::expm1(logx - logy);
  // Python's math.expm1 raises OverflowError here and Opacus answers logx:
  // e^y is then below the last bit of e^x.
  if (std::isinf(d)) return logx;
  return std::log(d) + logy;
}

// log(erfc(x)), accurate where erfc underflows (x up to hundreds for small
// noise). Below 25 erfc(x) >= 1e-274 is a normal double and glibc's erfc is
// within an ulp; above, the asymptotic series of erfcx(x) = e^(x^2) erfc(x),
// whose seventh term is below 3e-17 there.
double log_erfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  const double x2 = x * x, inv = 1.0 / (2.0 * x2);
  double term = 1.0, sum = 1.0;
  for (int k = 1; k <= 6; ++k) {
    term *= -(2.0 * k - 1.0) * inv;
    sum += term;
  }
  return -x2 - std::log(x) - 0.5 * std::log(M_PI) + std::log(sum);
}

// C(n, k) for integer orders. The recurrence c <- c (n - k + j) / j visits
// C(n - k + j, j), integers that long double holds exactly up to 2^64
// (every order Opacus uses: C(63, 31) < 2^63); larger orders round.
double binomial(int64_t n, int64_t k) {
  k = std::min(k, n - k);
  long double c = 1;
  for (int64_t j = 1; j <= k; ++j) c = c * static_cast<long double>(n - k + j) / static_cast<long double>(j);
  return static_cast<double>(c);
}

// log A_alpha for integer alpha (arXiv:1908.10530 section 3.3): a finite sum
// of positive terms.
double log_a_int(double q, double sigma, int64_t alpha) {
  double log_a = -kInf;
  for (int64_t i = 0; i <= alpha; ++i) {
    const double di = static_cast<double>(i);
    const double log_coef =
        std::log(binomial(alpha, i)) + di * std::log(q) + static_cast<double>(alpha - i) * std::log(1 - q);
    const double s = log_coef + (di * di - di) / (2 * (sigma * sigma));
    log_a = log_add(log_a, s);
  }
  return log_a;
}

// log A_alpha for fractional alpha: two infinite series (i below and above
// z0, the point where the two Gaussians' densities cross) with alternating
// binomial signs past alpha, summed until both terms fall below e^-30, as
// Opacus stops.
double log_a_frac(double q, double sigma, double alpha) {
  double log_a0 = -kInf, log_a1 = -kInf;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  const double sqrt2_sigma = std::sqrt(2.0) * sigma, two_var = 2 * (sigma * sigma);
  double coef = 1;  // C(alpha, i), by C(alpha, i) = C(alpha, i - 1) (alpha - i + 1) / i
  // Each term shrinks at least like i^-(alpha + 1); far more terms than any
  // setting needs, so a bound only against a loop that cannot end.
  constexpr int64_t kMaxTerms = 100'000'000;
  for (int64_t i = 0;; ++i) {
    const double di = static_cast<double>(i);
    if (i > 0) coef = coef * (alpha - di + 1) / di;
    const double log_coef = std::log(std::abs(coef));
    const double j = alpha - di;
    const double log_t0 = log_coef + di * std::log(q) + j * std::log(1 - q);
    const double log_t1 = log_coef + j * std::log(q) + di * std::log(1 - q);
    const double log_e0 = std::log(0.5) + log_erfc((di - z0) / sqrt2_sigma);
    const double log_e1 = std::log(0.5) + log_erfc((z0 - j) / sqrt2_sigma);
    const double log_s0 = log_t0 + (di * di - di) / two_var + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
    if (coef > 0) {
      log_a0 = log_add(log_a0, log_s0);
      log_a1 = log_add(log_a1, log_s1);
    } else {
      log_a0 = log_sub(log_a0, log_s0);
      log_a1 = log_sub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < -30) break;
    TSR_CHECK(i < kMaxTerms, Error, "privacy accounting: the RDP series at order ", num(alpha),
              " did not converge (sample rate ", num(q), ", noise multiplier ", num(sigma), ")");
  }
  return log_add(log_a0, log_a1);
}

}  // namespace

const std::vector<double>& default_alphas() {
  // Opacus: [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)),
  // built by the same division so 1 + x / 10.0 rounds the same way.
  static const std::vector<double> alphas = [] {
    std::vector<double> a;
    for (int x = 1; x < 100; ++x) a.push_back(1 + x / 10.0);
    for (int x = 12; x < 64; ++x) a.push_back(x);
    return a;
  }();
  return alphas;
}

double sampled_gaussian_rdp(double sample_rate, double noise_multiplier, double alpha) {
  TSR_CHECK(sample_rate >= 0 && sample_rate <= 1, Error, "sample rate must be in [0, 1], got ", num(sample_rate));
  TSR_CHECK(noise_multiplier >= 0, Error, "noise multiplier must be non-negative, got ", num(noise_multiplier));
  TSR_CHECK(alpha > 1, Error, "RDP order alpha must be above 1, got ", num(alpha));
  const double q = sample_rate, sigma = noise_multiplier;
  if (q == 0) return 0;                              // nobody's data is ever used
  if (sigma == 0) return kInf;                       // no noise: no privacy
  if (q == 1) return alpha / (2 * (sigma * sigma));  // the plain Gaussian mechanism
  if (std::isinf(alpha)) return kInf;
  // Orders like 2.0 = 1 + 10 / 10.0 take the exact finite sum, as Opacus's
  // float(alpha).is_integer() test sends them.
  if (alpha == std::floor(alpha)) return log_a_int(q, sigma, static_cast<int64_t>(alpha)) / (alpha - 1);
  return log_a_frac(q, sigma, alpha) / (alpha - 1);
}

PrivacySpent rdp_to_epsilon(const std::vector<double>& alphas, const std::vector<double>& rdp, double delta) {
  TSR_CHECK(alphas.size() == rdp.size() && !alphas.empty(), Error, "rdp_to_epsilon: ", alphas.size(), " orders but ",
            rdp.size(), " RDP values");
  check_delta(delta);
  PrivacySpent best{kInf, std::numeric_limits<double>::quiet_NaN()};
  bool any = false;
  for (size_t k = 0; k < alphas.size(); ++k) {
    const double a = alphas[k];
    const double eps = rdp[k] - (std::log(delta) + std::log(a)) / (a - 1) + std::log((a - 1) / a);
    if (std::isnan(eps)) continue;
    // The first smallest wins ties, as numpy's nanargmin.
    if (!any || eps < best.epsilon) best = {eps, a};
    any = true;
  }
  return best;
}

RdpAccountant::RdpAccountant() : alphas_(default_alphas()) {}

RdpAccountant::RdpAccountant(std::vector<double> alphas) : alphas_(std::move(alphas)) {
  TSR_CHECK(!alphas_.empty(), Error, "RdpAccountant: the list of RDP orders is empty");
  for (double a : alphas_) TSR_CHECK(a > 1, Error, "RdpAccountant: RDP order alpha must be above 1, got ", num(a));
}

void RdpAccountant::step(double noise_multiplier, double sample_rate, int64_t steps) {
  check_noise(noise_multiplier);
  check_sample_rate(sample_rate);
  check_steps(steps);
  if (!history_.empty() && history_.back().noise_multiplier == noise_multiplier &&
      history_.back().sample_rate == sample_rate) {
    history_.back().steps += steps;
    return;
  }
  history_.push_back({noise_multiplier, sample_rate, steps});
}

int64_t RdpAccountant::total_steps() const {
  int64_t n = 0;
  for (const auto& h : history_) n += h.steps;
  return n;
}

PrivacySpent RdpAccountant::epsilon(double delta) const {
  check_delta(delta);
  if (history_.empty()) return {0, 0};
  // RDP composes by addition at each order; Opacus sums the runs' vectors in
  // history order, each one the per-step RDP times its step count.
  std::vector<double> rdp(alphas_.size(), 0.0);
  for (const auto& h : history_)
    for (size_t k = 0; k < alphas_.size(); ++k)
      rdp[k] += sampled_gaussian_rdp(h.sample_rate, h.noise_multiplier, alphas_[k]) * static_cast<double>(h.steps);
  return rdp_to_epsilon(alphas_, rdp, delta);
}

double noise_multiplier_for(double target_epsilon, double delta, double sample_rate, int64_t steps,
                            double epsilon_tolerance) {
  TSR_CHECK(std::isfinite(target_epsilon) && target_epsilon > 0, Error,
            "target epsilon must be a positive finite number, got ", num(target_epsilon));
  TSR_CHECK(std::isfinite(epsilon_tolerance) && epsilon_tolerance > 0, Error,
            "epsilon tolerance must be a positive finite number, got ", num(epsilon_tolerance));
  check_delta(delta);
  check_sample_rate(sample_rate);
  check_steps(steps);
  auto eps_at = [&](double sigma) {
    RdpAccountant acc;
    acc.step(sigma, sample_rate, steps);
    return acc.epsilon(delta).epsilon;
  };
  // Opacus's search, decision for decision, so the answer is its answer:
  // double sigma from 10 until the target is met ...
  double sigma_low = 0, sigma_high = 10, eps_high = kInf;
  double last_sigma = 0, last_eps = kInf;
  while (eps_high > target_epsilon) {
    last_sigma = sigma_high, last_eps = eps_high;
    sigma_high = 2 * sigma_high;
    eps_high = eps_at(sigma_high);
    // Opacus gives up once sigma passes 1e6, even if that last doubling met
    // the target; the message names the largest noise within the limit.
    TSR_CHECK(sigma_high <= kMaxSigma, Error, "target epsilon ", num(target_epsilon), " cannot be reached in ", steps,
              " steps at sample rate ", num(sample_rate), " and delta ", num(delta),
              " with a noise multiplier up to 1e6: the largest noise multiplier tried, ", num(last_sigma),
              ", gives epsilon ", num(last_eps));
  }
  // ... then bisect until the upper end's epsilon is within the tolerance
  // below the target.
  while (target_epsilon - eps_high > epsilon_tolerance) {
    const double sigma = (sigma_low + sigma_high) / 2;
    // Opacus would loop forever once the interval is one double wide (an
    // epsilon that jumps across the tolerance band); say so instead.
    TSR_CHECK(sigma > sigma_low && sigma < sigma_high, Error, "noise multiplier search for target epsilon ",
              num(target_epsilon), " stalled at ", num(sigma_high), " (epsilon ", num(eps_high),
              "); try a larger epsilon tolerance");
    const double eps = eps_at(sigma);
    if (eps < target_epsilon) {
      sigma_high = sigma;
      eps_high = eps;
    } else {
      sigma_low = sigma;
    }
  }
  return sigma_high;
}

}  // namespace tessera::privacy
