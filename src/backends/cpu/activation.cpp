// CPU kernels for the elementwise activations. Each op is a scalar formula
// (the same one PyTorch's CPU kernel uses) run over contiguous chunks in an
// `omp simd` loop; exp, tanh and erf come from activation_math.h so float32
// loops vectorize.
#include <cmath>

#include "backends/cpu/activation_math.h"
#include "kernels/activation.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;       // 1/sqrt(2)
constexpr double kErfPdfScale = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kGeluBeta = 0.79788456080286535588;      // sqrt(2/pi)
constexpr double kGeluKappa = 0.044715;

// Elementwise over [0, n) in parallel chunks; f(begin, end) runs on one chunk.
template <typename F>
void chunked(int64_t n, int64_t grain, F&& f) {
  parallel_for(0, n, grain, [&](int64_t b, int64_t e) { f(b, e); });
}

template <typename T>
void forward(T* __restrict y, const T* __restrict x, int64_t n, Activation kind) {
  using cpu::verf;
  using cpu::vexp;
  using cpu::vtanh;
  const T one(1), half(0.5), zero(0);
  switch (kind) {
    case Activation::Relu:
      chunked(n, 65536, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) y[i] = x[i] <= zero ? zero : x[i];  // NaN passes, as torch
      });
      break;
    case Activation::GeluErf:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) y[i] = x[i] * half * (one + verf(x[i] * T(kSqrt1_2)));
      });
      break;
    case Activation::GeluTanh:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          T v = x[i];
          T inner = T(kGeluBeta) * (v + T(kGeluKappa) * v * v * v);
          y[i] = half * v * (one + vtanh(inner));
        }
      });
      break;
    case Activation::Sigmoid:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) y[i] = one / (one + vexp(-x[i]));
      });
      break;
    case Activation::Tanh:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) y[i] = vtanh(x[i]);
      });
      break;
    case Activation::Silu:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) y[i] = x[i] / (one + vexp(-x[i]));
      });
      break;
  }
}

// `s` is the output y for relu/sigmoid/tanh and the input x for gelu/silu.
template <typename T>
void backward(T* __restrict gx, const T* __restrict g, const T* __restrict s, int64_t n, Activation kind) {
  using cpu::verf;
  using cpu::vexp;
  using cpu::vtanh;
  const T one(1), half(0.5), zero(0);
  switch (kind) {
    case Activation::Relu:
      chunked(n, 65536, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) gx[i] = s[i] <= zero ? zero : g[i];
      });
      break;
    case Activation::GeluErf:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          T v = s[i];
          T cdf = half * (one + verf(v * T(kSqrt1_2)));
          T pdf = vexp(T(-0.5) * v * v) * T(kErfPdfScale);
          gx[i] = g[i] * (cdf + v * pdf);
        }
      });
      break;
    case Activation::GeluTanh:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          T v = s[i];
          T v2 = v * v;
          T inner = T(kGeluBeta) * (v + T(kGeluKappa) * v2 * v);
          T th = vtanh(inner);
          T left_d = half * (one + th);
          T right_d = half * v * (one - th * th) * T(kGeluBeta) * (one + T(3 * kGeluKappa) * v2);
          gx[i] = g[i] * (left_d + right_d);
        }
      });
      break;
    case Activation::Sigmoid:
      chunked(n, 65536, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) gx[i] = g[i] * (one - s[i]) * s[i];
      });
      break;
    case Activation::Tanh:
      chunked(n, 65536, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) gx[i] = g[i] * (one - s[i] * s[i]);
      });
      break;
    case Activation::Silu:
      chunked(n, 16384, [&](int64_t b, int64_t e) {
#pragma omp simd
        for (int64_t i = b; i < e; ++i) {
          T sig = one / (one + vexp(-s[i]));
          gx[i] = g[i] * sig * (one + s[i] * (one - sig));
        }
      });
      break;
  }
}

void activation_cpu(Tensor& out, const Tensor& x, Activation kind) {
  dispatch_floating(x.dtype(), activation_name(kind), [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward<T>(out.data<T>(), x.data<T>(), x.numel(), kind);
  });
}

void activation_backward_cpu(Tensor& gx, const Tensor& g, const Tensor& saved, Activation kind) {
  dispatch_floating(saved.dtype(), activation_name(kind), [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward<T>(gx.data<T>(), g.data<T>(), saved.data<T>(), saved.numel(), kind);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(activation_stub, DeviceType::CPU, &activation_cpu);
TSR_REGISTER_KERNEL(activation_backward_stub, DeviceType::CPU, &activation_backward_cpu);

}  // namespace tessera
