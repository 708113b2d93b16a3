// CPU kernels for the fused optimizer updates. Each mirrors torch's
// single-tensor loop op for op: torch's `a.add_(b, alpha=s)` is a fused
// multiply-add (its vectorized kernel uses fmadd, and so does its scalar tail),
// `addcmul_(x, y, value=s)` is fma(s * x, y, a), `addcdiv_(x, y, value=s)` is
// a + (s * x) / y, and Python scalars are rounded to the tensor's dtype before
// use. Writing those fmas explicitly (std::fma) keeps us bit-identical to it.
// Adam runs over a whole parameter group in one parallel pass, float32 in
// AVX-512 lanes where the CPU has them (the scalar loop did not vectorize:
// sqrt and division kept it one element at a time, ~9x slower).
// GCC 12 warns that the *_round_ps intrinsics read an uninitialised operand
// (their unused pass-through vector, inside immintrin.h, so the pragma comes
// before it); nothing reads it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/optim.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;

void sgd_step_kernel(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
                     const SGDStepArgs& a) {
  const int64_t n = param.numel();
  dispatch_floating(param.dtype(), "SGD.step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* buf = momentum_buf.defined() ? momentum_buf.data<T>() : nullptr;
    const T wd = static_cast<T>(a.weight_decay);
    const T mom = static_cast<T>(a.momentum);
    const T one_minus_damp = static_cast<T>(1.0 - a.dampening);
    const T neg_lr = static_cast<T>(-a.lr);
    const bool decay = a.weight_decay != 0.0;
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T d = decay ? std::fma(wd, p[i], g[i]) : g[i];
        if (buf) {
          buf[i] = a.init_buffer ? d : std::fma(one_minus_damp, d, buf[i] * mom);
          d = a.nesterov ? std::fma(mom, buf[i], d) : buf[i];
        }
        p[i] = std::fma(neg_lr, d, p[i]);
      }
    });
  });
}

// One parameter's scalars: torch's Python-double math, then rounded to T like its scalars.
template <typename T>
struct AdamScalars {
  T decay_factor, wd, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  AdamScalars(const AdamStepArgs& a, int64_t step_count) {
    const double step = static_cast<double>(step_count);
    const double bias_correction1 = 1.0 - std::pow(a.beta1, step);
    const double bias_correction2 = 1.0 - std::pow(a.beta2, step);
    decay_factor = static_cast<T>(1.0 - a.lr * a.weight_decay);
    wd = static_cast<T>(a.weight_decay);
    beta1 = static_cast<T>(a.beta1);
    one_minus_beta1 = static_cast<T>(1.0 - a.beta1);
    beta2 = static_cast<T>(a.beta2);
    one_minus_beta2 = static_cast<T>(1.0 - a.beta2);
    bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
    eps = static_cast<T>(a.eps);
    neg_step_size = static_cast<T>(-(a.lr / bias_correction1));
  }
};

template <typename T>
struct AdamPointers {
  T* p;
  const T* g;
  T* m;
  T* v;
  T* vmax;
};

// Elements [b, e) of one parameter, one element at a time.
template <typename T>
void adam_range_scalar(const AdamPointers<T>& t, const AdamScalars<T>& c, const AdamStepArgs& a, int64_t b,
                       int64_t e) {
  const bool l2 = !a.decoupled && a.weight_decay != 0.0;
  if (a.decoupled) {
    // A pass of its own: torch rounds p * factor before the update, and a
    // separate loop keeps the compiler from contracting it into an fma.
    for (int64_t i = b; i < e; ++i) t.p[i] = t.p[i] * c.decay_factor;
  }
  for (int64_t i = b; i < e; ++i) {
    const T gi = l2 ? std::fma(c.wd, t.p[i], t.g[i]) : t.g[i];
    t.m[i] = std::fma(c.one_minus_beta1, gi, t.m[i] * c.beta1);
    t.v[i] = std::fma(c.one_minus_beta2 * gi, gi, t.v[i] * c.beta2);
    T second = t.v[i];
    if (t.vmax) {
      t.vmax[i] = std::max(t.vmax[i], t.v[i]);
      second = t.vmax[i];
    }
    const T denom = std::sqrt(second) / c.bc2_sqrt + c.eps;
    t.p[i] = t.p[i] + (c.neg_step_size * t.m[i]) / denom;
  }
}

#define TSR_AVX512 __attribute__((target("avx512f")))
#define TSR_RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

// The same float operations in 16 lanes. The explicitly rounded intrinsics
// (*_round_ps) are never contracted into fmas by the compiler, so every lane
// rounds exactly as adam_range_scalar does; the tail runs masked.
TSR_AVX512 void adam_range_avx512(const AdamPointers<float>& t, const AdamScalars<float>& c, const AdamStepArgs& a,
                                  int64_t b, int64_t e) {
  const bool l2 = !a.decoupled && a.weight_decay != 0.0;
  const __m512 decay = _mm512_set1_ps(c.decay_factor), wd = _mm512_set1_ps(c.wd);
  const __m512 beta1 = _mm512_set1_ps(c.beta1), omb1 = _mm512_set1_ps(c.one_minus_beta1);
  const __m512 beta2 = _mm512_set1_ps(c.beta2), omb2 = _mm512_set1_ps(c.one_minus_beta2);
  const __m512 bc2 = _mm512_set1_ps(c.bc2_sqrt), eps = _mm512_set1_ps(c.eps), nss = _mm512_set1_ps(c.neg_step_size);
  for (int64_t i = b; i < e; i += 16) {
    const __mmask16 k = e - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (e - i)) - 1);
    __m512 p = _mm512_maskz_loadu_ps(k, t.p + i);
    const __m512 g0 = _mm512_maskz_loadu_ps(k, t.g + i);
    if (a.decoupled) p = _mm512_mul_round_ps(p, decay, TSR_RN);
    const __m512 g = l2 ? _mm512_fmadd_round_ps(wd, p, g0, TSR_RN) : g0;
    const __m512 m = _mm512_fmadd_round_ps(omb1, g, _mm512_mul_round_ps(_mm512_maskz_loadu_ps(k, t.m + i), beta1, TSR_RN),
                                           TSR_RN);
    const __m512 v = _mm512_fmadd_round_ps(_mm512_mul_round_ps(omb2, g, TSR_RN), g,
                                           _mm512_mul_round_ps(_mm512_maskz_loadu_ps(k, t.v + i), beta2, TSR_RN), TSR_RN);
    _mm512_mask_storeu_ps(t.m + i, k, m);
    _mm512_mask_storeu_ps(t.v + i, k, v);
    __m512 second = v;
    if (t.vmax) {
      // max(v, vmax) picks vmax unless v > vmax: std::max(vmax, v), NaN included.
      second = _mm512_max_ps(v, _mm512_maskz_loadu_ps(k, t.vmax + i));
      _mm512_mask_storeu_ps(t.vmax + i, k, second);
    }
    const __m512 denom = _mm512_add_round_ps(_mm512_div_round_ps(_mm512_sqrt_round_ps(second, TSR_RN), bc2, TSR_RN),
                                             eps, TSR_RN);
    p = _mm512_add_round_ps(p, _mm512_div_round_ps(_mm512_mul_round_ps(nss, m, TSR_RN), denom, TSR_RN), TSR_RN);
    _mm512_mask_storeu_ps(t.p + i, k, p);
  }
}

bool cpu_has_avx512f() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return yes;
}

template <typename T>
void adam_range(const AdamTensors& t, const AdamStepArgs& a, int64_t b, int64_t e) {
  const AdamScalars<T> c(a, t.step);
  const AdamPointers<T> ptr{t.param.data<T>(), t.grad.data<T>(), t.exp_avg.data<T>(), t.exp_avg_sq.data<T>(),
                            a.amsgrad ? t.max_exp_avg_sq.data<T>() : nullptr};
  if constexpr (std::is_same_v<T, float>) {
    if (cpu_has_avx512f()) return adam_range_avx512(ptr, c, a, b, e);
  }
  adam_range_scalar(ptr, c, a, b, e);
}

// The group's elements end to end: tensor j covers [start[j], start[j+1]).
// Each chunk updates the pieces of the tensors it overlaps; the update is
// elementwise, so the split changes no result.
void adam_step_kernel(const std::vector<AdamTensors>& params, const AdamStepArgs& a) {
  std::vector<int64_t> start(params.size() + 1, 0);
  for (size_t j = 0; j < params.size(); ++j) start[j + 1] = start[j] + params[j].param.numel();
  parallel_for(0, start.back(), kGrain, [&](int64_t b, int64_t e) {
    size_t j = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), b) - start.begin()) - 1;
    for (; j < params.size() && start[j] < e; ++j) {
      const int64_t lo = std::max(b, start[j]) - start[j], hi = std::min(e, start[j + 1]) - start[j];
      if (lo >= hi) continue;
      dispatch_floating(params[j].param.dtype(), a.decoupled ? "AdamW.step" : "Adam.step", [&](auto tag) {
        adam_range<typename decltype(tag)::type>(params[j], a, lo, hi);
      });
    }
  });
}

}  // namespace

TSR_REGISTER_KERNEL(sgd_step_stub, DeviceType::CPU, &sgd_step_kernel);
TSR_REGISTER_KERNEL(adam_step_stub, DeviceType::CPU, &adam_step_kernel);

}  // namespace tessera::cpu
