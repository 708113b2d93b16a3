// CPU kernels for softmax / log_softmax over the middle dim of a contiguous
// (outer, n, inner) tensor. inner == 1 (the usual last-dim case): one row per
// task, three vectorized passes (max, sum of exp, scale). inner > 1: a block of
// up to kCols adjacent columns per task, with per-column running max and sum
// so every loop still walks contiguous memory. Sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/accumulate.h"
#include "backends/cpu/activation_math.h"
#include "kernels/softmax.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

constexpr int64_t kCols = 256;  // columns per task when inner > 1

template <typename T>
void softmax_row(T* __restrict y, const T* __restrict x, int64_t n, bool log) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = x[j] > m ? x[j] : m;
  if (log) {
    const double s = cpu::sum_double(n, [&](int64_t j) { return cpu::vexp(x[j] - m); });
    const T ls = static_cast<T>(std::log(s));
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) - ls;
  } else {
    const double s = cpu::sum_double(n, [&](int64_t j) { return y[j] = cpu::vexp(x[j] - m); });
    const T inv = static_cast<T>(1.0 / s);
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] *= inv;
  }
}

// Columns [0, c) of one (n, inner) slab, starting at x / y.
template <typename T>
void softmax_cols(T* __restrict y, const T* __restrict x, int64_t n, int64_t inner, int64_t c, bool log) {
  T m[kCols];
  double s[kCols];
  for (int64_t i = 0; i < c; ++i) {
    m[i] = -std::numeric_limits<T>::infinity();
    s[i] = 0;
  }
  for (int64_t j = 0; j < n; ++j) {
    const T* xr = x + j * inner;
#pragma omp simd
    for (int64_t i = 0; i < c; ++i) m[i] = xr[i] > m[i] ? xr[i] : m[i];
  }
  for (int64_t j = 0; j < n; ++j) {
    const T* xr = x + j * inner;
    T* yr = y + j * inner;
#pragma omp simd
    for (int64_t i = 0; i < c; ++i) {
      T e = cpu::vexp(xr[i] - m[i]);
      s[i] += e;
      if (!log) yr[i] = e;
    }
  }
  T f[kCols];  // 1/sum for softmax, log(sum) for log_softmax
  for (int64_t i = 0; i < c; ++i) f[i] = static_cast<T>(log ? std::log(s[i]) : 1.0 / s[i]);
  for (int64_t j = 0; j < n; ++j) {
    const T* xr = x + j * inner;
    T* yr = y + j * inner;
    if (log) {
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) yr[i] = (xr[i] - m[i]) - f[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) yr[i] *= f[i];
    }
  }
}

template <typename T>
void softmax_backward_row(T* __restrict gx, const T* __restrict g, const T* __restrict y, int64_t n, bool log) {
  if (log) {
    const T st = static_cast<T>(cpu::sum_double(n, [&](int64_t j) { return g[j]; }));
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) gx[j] = g[j] - cpu::vexp(y[j]) * st;
  } else {
    const T st = static_cast<T>(cpu::sum_double(n, [&](int64_t j) { return static_cast<double>(g[j]) * y[j]; }));
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) gx[j] = y[j] * (g[j] - st);
  }
}

template <typename T>
void softmax_backward_cols(T* __restrict gx, const T* __restrict g, const T* __restrict y, int64_t n,
                           int64_t inner, int64_t c, bool log) {
  double s[kCols];
  for (int64_t i = 0; i < c; ++i) s[i] = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T* gr = g + j * inner;
    const T* yr = y + j * inner;
    if (log) {
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) s[i] += gr[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) s[i] += gr[i] * yr[i];
    }
  }
  T st[kCols];
  for (int64_t i = 0; i < c; ++i) st[i] = static_cast<T>(s[i]);
  for (int64_t j = 0; j < n; ++j) {
    const T* gr = g + j * inner;
    const T* yr = y + j * inner;
    T* gxr = gx + j * inner;
    if (log) {
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) gxr[i] = gr[i] - cpu::vexp(yr[i]) * st[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < c; ++i) gxr[i] = yr[i] * (gr[i] - st[i]);
    }
  }
}

// Runs row(o) for inner == 1, else cols(o, i0, c) over column blocks, in parallel.
template <typename Row, typename Cols>
void for_each_slab(int64_t outer, int64_t n, int64_t inner, Row&& row, Cols&& cols) {
  const int64_t work = std::max<int64_t>(n, 1);
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, 16384 / work), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) row(o);
    });
    return;
  }
  const int64_t blocks = (inner + kCols - 1) / kCols;
  const int64_t per_task = work * std::min(inner, kCols);
  parallel_for(0, outer * blocks, std::max<int64_t>(1, 16384 / per_task), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, i0 = (t % blocks) * kCols;
      cols(o, i0, std::min(kCols, inner - i0));
    }
  });
}

void softmax_cpu(Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool log) {
  dispatch_floating(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = out.data<T>();
    const T* xp = x.data<T>();
    for_each_slab(
        outer, n, inner, [&](int64_t o) { softmax_row(y + o * n, xp + o * n, n, log); },
        [&](int64_t o, int64_t i0, int64_t c) {
          const int64_t base = o * n * inner + i0;
          softmax_cols(y + base, xp + base, n, inner, c, log);
        });
  });
}

void softmax_backward_cpu(Tensor& gx, const Tensor& g, const Tensor& y, int64_t outer, int64_t n, int64_t inner,
                          bool log) {
  dispatch_floating(y.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gxp = gx.data<T>();
    const T* gp = g.data<T>();
    const T* yp = y.data<T>();
    for_each_slab(
        outer, n, inner, [&](int64_t o) { softmax_backward_row(gxp + o * n, gp + o * n, yp + o * n, n, log); },
        [&](int64_t o, int64_t i0, int64_t c) {
          const int64_t base = o * n * inner + i0;
          softmax_backward_cols(gxp + base, gp + base, yp + base, n, inner, c, log);
        });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(softmax_stub, DeviceType::CPU, &softmax_cpu);
TSR_REGISTER_KERNEL(softmax_backward_stub, DeviceType::CPU, &softmax_backward_cpu);

}  // namespace tessera
