// Next-token sampling (see lm/sampling.h for the order of the filters and why).
#include "tessera/lm/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tessera/core/error.h"

namespace tessera::lm {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int32_t argmax_of(const std::vector<double>& x) {
  int32_t best = -1;
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isnan(x[i]) && (best < 0 || x[i] > x[best])) best = static_cast<int32_t>(i);
  return best;
}

// The logits the filters start from: the allowed prefix in double, NaN as -inf
// (a NaN must never be drawn), with the repetition penalty applied once per id.
std::vector<double> penalized(std::span<const float> logits, const SamplingOptions& opts,
                              std::span<const int32_t> history) {
  int64_t n = static_cast<int64_t>(logits.size());
  if (opts.allowed_vocab >= 0) n = std::min(n, opts.allowed_vocab);
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = std::isnan(logits[i]) ? kNegInf : static_cast<double>(logits[i]);
  if (opts.repetition_penalty != 1.0 && !history.empty()) {
    std::vector<char> seen(x.size(), 0);
    for (int32_t id : history) {
      if (id < 0 || id >= n || seen[id]) continue;
      seen[id] = 1;
      x[id] = x[id] > 0 ? x[id] / opts.repetition_penalty : x[id] * opts.repetition_penalty;
    }
  }
  return x;
}

}  // namespace

void validate(const SamplingOptions& opts) {
  TSR_CHECK(std::isfinite(opts.temperature) && opts.temperature >= 0, Error,
            "sampling: temperature must be >= 0 (0 = greedy), got ", opts.temperature);
  TSR_CHECK(opts.top_k >= 0, Error, "sampling: top_k must be >= 0 (0 = off), got ", opts.top_k);
  TSR_CHECK(opts.top_p > 0 && opts.top_p <= 1, Error, "sampling: top_p must be in (0, 1] (1 = off), got ",
            opts.top_p);
  TSR_CHECK(std::isfinite(opts.repetition_penalty) && opts.repetition_penalty > 0, Error,
            "sampling: repetition_penalty must be > 0 (1 = off), got ", opts.repetition_penalty);
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i)
    if (!std::isnan(logits[i]) && (best < 0 || logits[i] > logits[best])) best = static_cast<int32_t>(i);
  TSR_CHECK(best >= 0, Error, "argmax: no finite logit in a row of ", logits.size());
  return best;
}

std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& opts,
                                          std::span<const int32_t> history) {
  validate(opts);
  std::vector<double> x = penalized(logits, opts, history);
  std::vector<double> p(logits.size(), 0.0);
  TSR_CHECK(!x.empty(), Error, "sampling: empty logits row (allowed_vocab ", opts.allowed_vocab, ")");

  if (opts.temperature == 0) {
    int32_t best = argmax_of(x);
    TSR_CHECK(best >= 0, Error, "sampling: every logit is NaN");
    p[best] = 1.0;
    return p;
  }
  for (double& v : x) v /= opts.temperature;

  int64_t n = static_cast<int64_t>(x.size());
  if (opts.top_k > 0 && opts.top_k < n) {
    // The k-th largest value is the threshold; everything below it goes.
    std::vector<double> sorted = x;
    std::nth_element(sorted.begin(), sorted.begin() + (opts.top_k - 1), sorted.end(), std::greater<double>());
    double threshold = sorted[opts.top_k - 1];
    for (double& v : x)
      if (v < threshold) v = kNegInf;
  }

  double m = *std::max_element(x.begin(), x.end());
  TSR_CHECK(m > kNegInf, Error, "sampling: every logit is -inf or NaN after filtering");
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += (p[i] = std::exp(x[i] - m));
  for (int64_t i = 0; i < n; ++i) p[i] /= total;

  if (opts.top_p < 1.0) {
    // Most probable first (ties by id, a strict order, so the kept set is
    // deterministic); keep the shortest prefix whose mass reaches top_p. A
    // trained model's nucleus is usually a few hundred tokens: sort the top m
    // only, and widen m while their mass falls short.
    std::vector<int32_t> order;
    order.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      if (p[i] > 0) order.push_back(static_cast<int32_t>(i));
    auto before = [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
    double mass = 0;
    size_t keep = 0;
    for (size_t m = std::min<size_t>(order.size(), 512);; m = std::min(order.size(), m * 8)) {
      if (m < order.size()) std::nth_element(order.begin(), order.begin() + m, order.end(), before);
      std::sort(order.begin(), order.begin() + m, before);
      mass = 0;
      keep = 0;
      while (keep < m) {
        mass += p[order[keep++]];
        if (mass >= opts.top_p) break;
      }
      if (mass >= opts.top_p || m == order.size()) break;
    }
    for (size_t j = keep; j < order.size(); ++j) p[order[j]] = 0;
    for (int64_t i = 0; i < n; ++i) p[i] /= mass;
  }
  return p;
}

int32_t sample_token(std::span<const float> logits, const SamplingOptions& opts, Generator& gen,
                     std::span<const int32_t> history) {
  if (opts.temperature == 0) {
    validate(opts);
    int32_t best = argmax_of(penalized(logits, opts, history));
    TSR_CHECK(best >= 0, Error, "sampling: every logit is NaN");
    return best;
  }
  std::vector<double> p = sampling_distribution(logits, opts, history);
  auto w = philox4x32(gen.reserve(1), gen.seed());
  double u = uint_to_unit_double(w[0], w[1]);
  double cum = 0;
  int32_t last = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = static_cast<int32_t>(i);
    cum += p[i];
    if (u < cum) return last;
  }
  return last;  // u beyond the rounded total: the last kept token
}

Generator sequence_generator(uint64_t seed, uint64_t index) {
  Generator g(seed);
  g.set_state(seed, index << 40);
  return g;
}

}  // namespace tessera::lm
