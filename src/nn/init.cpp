// Initializers. Each fills the tensor in place under NoGradGuard (parameters
// require grad) from the Philox generator.
#include "tessera/nn/init.h"

#include <cmath>

#include "tessera/autograd/grad_mode.h"
#include "tessera/ops/elementwise.h"

namespace tessera::nn::init {
namespace {

Generator& pick(Generator* g) { return g ? *g : default_generator(); }

void assign(Tensor& t, const Tensor& values) {
  NoGradGuard ng;
  t.copy_(values);
}

// Inverse of the standard normal CDF (Acklam's rational approximation refined
// by one Halley step: accurate to double precision).
double norm_ppf(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double q, r, x;
  if (p < 0.02425) {
    q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    q = p - 0.5;
    r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

}  // namespace

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t) {
  TSR_CHECK(t.dim() >= 2, ShapeError, "init: fan in and fan out need a tensor with at least 2 dims, got shape ",
            shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "conv1d" || nl == "conv2d" || nl == "sigmoid" || nl == "identity") return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nl == "selu") return 3.0 / 4.0;
  throw Error("calculate_gain: unknown nonlinearity '" + nl + "'");
}

void uniform_(Tensor& t, double a, double b, Generator* gen) {
  Tensor u = rand(t.shape(), pick(gen), {.dtype = t.dtype() == DType::F64 ? DType::F64 : DType::F32});
  assign(t, add(mul(u, b - a), a));
}

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  Tensor n = randn(t.shape(), pick(gen), {.dtype = t.dtype() == DType::F64 ? DType::F64 : DType::F32});
  assign(t, add(mul(n, std), mean));
}

void trunc_normal_(Tensor& t, double mean, double std, double a, double b, Generator* gen) {
  TSR_CHECK(b > a, Error, "trunc_normal_: empty interval [", a, ", ", b, "]");
  auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  double lo = cdf((a - mean) / std), hi = cdf((b - mean) / std);
  Tensor u = rand(t.shape(), pick(gen), {.dtype = DType::F64});
  std::vector<double> v = u.to_vector<double>();
  for (double& x : v) {
    double p = lo + (hi - lo) * x;
    p = std::min(std::max(p, 1e-300), 1 - 1e-16);
    x = std::min(std::max(mean + std * norm_ppf(p), a), b);
  }
  assign(t, from_vector<double>(v, t.shape(), {.dtype = DType::F64}));
}

void constant_(Tensor& t, double value) {
  NoGradGuard ng;
  t.fill_(value);
}
void zeros_(Tensor& t) { constant_(t, 0.0); }
void ones_(Tensor& t) { constant_(t, 1.0); }

void xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  auto [fi, fo] = fan_in_and_fan_out(t);
  double a = gain * std::sqrt(6.0 / static_cast<double>(fi + fo));
  uniform_(t, -a, a, gen);
}

void xavier_normal_(Tensor& t, double gain, Generator* gen) {
  auto [fi, fo] = fan_in_and_fan_out(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fi + fo)), gen);
}

static double kaiming_std(const Tensor& t, double a, const std::string& mode, const std::string& nl) {
  auto [fi, fo] = fan_in_and_fan_out(t);
  TSR_CHECK(mode == "fan_in" || mode == "fan_out", Error, "kaiming init: mode must be fan_in or fan_out, got '", mode,
            "'");
  int64_t fan = mode == "fan_in" ? fi : fo;
  TSR_CHECK(fan > 0, ShapeError, "kaiming init: zero fan for shape ", shape_str(t.shape()));
  return calculate_gain(nl, a) / std::sqrt(static_cast<double>(fan));
}

void kaiming_uniform_(Tensor& t, double a, const std::string& mode, const std::string& nl, Generator* gen) {
  double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nl);
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(Tensor& t, double a, const std::string& mode, const std::string& nl, Generator* gen) {
  normal_(t, 0.0, kaiming_std(t, a, mode, nl), gen);
}

}  // namespace tessera::nn::init
