// CPU kernels for the fused optimizer updates. Each mirrors torch's
// single-tensor loop op for op: torch's `a.add_(b, alpha=s)` is a fused
// multiply-add (its vectorized kernel uses fmadd, and so does its scalar tail),
// `addcmul_(x, y, value=s)` is fma(s * x, y, a), `addcdiv_(x, y, value=s)` is
// a + (s * x) / y, and Python scalars are rounded to the tensor's dtype before
// use. Writing those fmas explicitly (std::fma) keeps us bit-identical to it.
#include <algorithm>
#include <cmath>

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

void adam_step_kernel(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                      const Tensor& max_exp_avg_sq, const AdamStepArgs& a) {
  const int64_t n = param.numel();
  // Python-double scalar math of torch's loop, then rounded to T like its scalars.
  const double step = static_cast<double>(a.step);
  const double bias_correction1 = 1.0 - std::pow(a.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(a.beta2, step);
  const double step_size = a.lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  dispatch_floating(param.dtype(), a.decoupled ? "AdamW.step" : "Adam.step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    T* vmax = a.amsgrad ? max_exp_avg_sq.data<T>() : nullptr;
    const T decay_factor = static_cast<T>(1.0 - a.lr * a.weight_decay);
    const T wd = static_cast<T>(a.weight_decay);
    const T beta1 = static_cast<T>(a.beta1);
    const T one_minus_beta1 = static_cast<T>(1.0 - a.beta1);
    const T beta2 = static_cast<T>(a.beta2);
    const T one_minus_beta2 = static_cast<T>(1.0 - a.beta2);
    const T bc2_sqrt = static_cast<T>(bias_correction2_sqrt);
    const T eps = static_cast<T>(a.eps);
    const T neg_step_size = static_cast<T>(-step_size);
    const bool l2 = !a.decoupled && a.weight_decay != 0.0;
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      if (a.decoupled) {
        // A pass of its own: torch rounds p * factor before the update, and a
        // separate loop keeps the compiler from contracting it into an fma.
        for (int64_t i = b; i < e; ++i) p[i] = p[i] * decay_factor;
      }
      for (int64_t i = b; i < e; ++i) {
        const T gi = l2 ? std::fma(wd, p[i], g[i]) : g[i];
        m[i] = std::fma(one_minus_beta1, gi, m[i] * beta1);
        v[i] = std::fma(one_minus_beta2 * gi, gi, v[i] * beta2);
        T second = v[i];
        if (vmax) {
          vmax[i] = std::max(vmax[i], v[i]);
          second = vmax[i];
        }
        const T denom = std::sqrt(second) / bc2_sqrt + eps;
        p[i] = p[i] + (neg_step_size * m[i]) / denom;
      }
    });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(sgd_step_stub, DeviceType::CPU, &sgd_step_kernel);
TSR_REGISTER_KERNEL(adam_step_stub, DeviceType::CPU, &adam_step_kernel);

}  // namespace tessera::cpu
