// CPU kernels for layer_norm and rms_norm on a contiguous (rows, cols) tensor,
// optionally fused with the residual add before them (add_layer_norm,
// add_rms_norm: the row x + residual is formed, stored and normalized in one
// visit; backward adds the sum's own gradient to gx in the same visit).
// Forward: one row per iteration, statistics in double (two-pass variance),
// then a vectorized affine pass. Backward is fused: one sweep per row computes
// gx and accumulates the weight/bias gradients into per-block partials
// (double); a fixed number of row blocks, combined in order, keeps gw/gb
// independent of the thread count. Row functions are templated on whether a
// weight exists: a runtime `w ? g * w : g` in the loop turned into a gather.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "backends/cpu/accumulate.h"
#include "kernels/norm.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

using cpu::sum_double;

constexpr int64_t kMaxBlocks = 32;  // row blocks for parameter-gradient partials

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Rows [0, rows) split into a fixed number of contiguous blocks; f(block, row_begin, row_end).
template <typename F>
int64_t for_row_blocks(int64_t rows, F&& f) {
  const int64_t per = std::max<int64_t>(1, (rows + kMaxBlocks - 1) / kMaxBlocks);
  const int64_t blocks = (rows + per - 1) / per;
  parallel_for(0, blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) f(k, k * per, std::min(rows, (k + 1) * per));
  });
  return blocks;
}

// dst[j] = sum over blocks of part[k * cols + j], in block order.
template <typename T>
void combine_partials(T* dst, const std::vector<double>& part, int64_t blocks, int64_t cols) {
  parallel_for(0, cols, 4096, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      double s = 0;
      for (int64_t k = 0; k < blocks; ++k) s += part[k * cols + j];
      dst[j] = static_cast<T>(s);
    }
  });
}

// s = x + r for one row; returns s. The row is then normalized while it is
// still in L1, so the residual add costs no extra sweep over memory.
template <typename T>
const T* add_row(T* __restrict s, const T* __restrict x, const T* __restrict r, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) s[j] = x[j] + r[j];
  return s;
}

// gx += ga for one row (the residual stream's gradient, gx still in L1).
template <typename T>
void add_into_row(T* __restrict gx, const T* __restrict ga, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) gx[j] += ga[j];
}

// The mean as a float pair hi + lo: x - hi is exact for x near the mean
// (Sterbenz), so a large common offset costs no digits, and a row of equal
// values normalizes to exactly 0.
template <typename T>
struct SplitMean {
  T hi, lo;
  explicit SplitMean(double mu) : hi(static_cast<T>(mu)), lo(static_cast<T>(mu - static_cast<double>(hi))) {}
  T center(T x) const { return (x - hi) - lo; }
};

template <typename T>
void layer_norm_row(T* __restrict y, const T* __restrict x, const T* __restrict w, const T* __restrict b,
                    int64_t n, double eps, double& mean_out, double& rstd_out) {
  const double mu = sum_double(n, [&](int64_t j) { return x[j]; }) / static_cast<double>(n);
  const double var = sum_double(n, [&](int64_t j) {
                       double d = static_cast<double>(x[j]) - mu;
                       return d * d;
                     }) / static_cast<double>(n);
  const double rs = 1.0 / std::sqrt(var + eps);
  mean_out = mu;
  rstd_out = rs;
  const SplitMean<T> m(mu);
  const T a = static_cast<T>(rs);
  if (w && b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = m.center(x[j]) * a * w[j] + b[j];
  } else if (w) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = m.center(x[j]) * a * w[j];
  } else if (b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = m.center(x[j]) * a + b[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = m.center(x[j]) * a;
  }
}

// gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w;
// pw += g * xhat and pb += g in the same sweep when wanted.
template <typename T, bool HasW, bool NeedW, bool NeedB>
void layer_norm_backward_row(T* __restrict gx, double* __restrict pw, double* __restrict pb, const T* __restrict g,
                             const T* __restrict x, const T* __restrict w, int64_t n, double mu, double rstd) {
  const SplitMean<T> m(mu);
  const T rs = static_cast<T>(rstd);
  auto dxhat = [&](int64_t j) { return HasW ? g[j] * w[j] : g[j]; };
  auto xhat = [&](int64_t j) { return m.center(x[j]) * rs; };
  const cpu::Sums2 s = cpu::sum2_double(
      n, [&](int64_t j) { return dxhat(j); },
      [&](int64_t j) { return static_cast<double>(dxhat(j)) * static_cast<double>(xhat(j)); });
  const T ca = static_cast<T>(s.a / static_cast<double>(n)), cb = static_cast<T>(s.b / static_cast<double>(n));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T xh = xhat(j);
    gx[j] = rs * (dxhat(j) - ca - xh * cb);
    if constexpr (NeedW) pw[j] += static_cast<double>(g[j]) * static_cast<double>(xh);
    if constexpr (NeedB) pb[j] += static_cast<double>(g[j]);
  }
}

// Picks the instantiation for the runtime flags.
template <typename T>
void layer_norm_backward_row_any(T* gx, double* pw, double* pb, const T* g, const T* x, const T* w, int64_t n,
                                 double mu, double rstd) {
  auto run = [&](auto has_w, auto need_w, auto need_b) {
    layer_norm_backward_row<T, decltype(has_w)::value, decltype(need_w)::value, decltype(need_b)::value>(
        gx, pw, pb, g, x, w, n, mu, rstd);
  };
  using Y = std::true_type;
  using N = std::false_type;
  const int key = (w ? 4 : 0) | (pw ? 2 : 0) | (pb ? 1 : 0);
  switch (key) {
    case 0: run(N{}, N{}, N{}); break;
    case 1: run(N{}, N{}, Y{}); break;
    case 2: run(N{}, Y{}, N{}); break;
    case 3: run(N{}, Y{}, Y{}); break;
    case 4: run(Y{}, N{}, N{}); break;
    case 5: run(Y{}, N{}, Y{}); break;
    case 6: run(Y{}, Y{}, N{}); break;
    default: run(Y{}, Y{}, Y{}); break;
  }
}

template <typename T>
void rms_norm_row(T* __restrict y, const T* __restrict x, const T* __restrict w, int64_t n, double eps,
                  double& rstd_out) {
  const double ms = sum_double(n, [&](int64_t j) { return static_cast<double>(x[j]) * x[j]; }) / static_cast<double>(n);
  rstd_out = 1.0 / std::sqrt(ms + eps);
  const T rs = static_cast<T>(rstd_out);
  if (w) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] * rs) * w[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = x[j] * rs;
  }
}

// gx = rstd * (dxhat - xhat * mean(dxhat * xhat)), xhat = x * rstd, dxhat = g * w;
// pw += g * xhat in the same sweep when wanted.
template <typename T, bool HasW, bool NeedW>
void rms_norm_backward_row(T* __restrict gx, double* __restrict pw, const T* __restrict g, const T* __restrict x,
                           const T* __restrict w, int64_t n, double rstd) {
  const T rs = static_cast<T>(rstd);
  auto dxhat = [&](int64_t j) { return HasW ? g[j] * w[j] : g[j]; };
  const double sb = sum_double(n, [&](int64_t j) { return static_cast<double>(dxhat(j)) * (x[j] * rs); });
  const T cb = static_cast<T>(sb / static_cast<double>(n));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T xh = x[j] * rs;
    gx[j] = rs * (dxhat(j) - xh * cb);
    if constexpr (NeedW) pw[j] += static_cast<double>(g[j]) * static_cast<double>(xh);
  }
}

void layer_norm_cpu(Tensor& y, Tensor& sum, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& residual,
                    const Tensor& weight, const Tensor& bias, int64_t rows, int64_t cols, double eps) {
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* resp = ptr_or_null<T>(residual);
    T* sp = resp ? sum.data<T>() : nullptr;
    const T* w = ptr_or_null<T>(weight);
    const T* b = ptr_or_null<T>(bias);
    T* yp = y.data<T>();
    double* mp = mean.data<double>();
    double* rp = rstd.data<double>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r * cols;
        const T* row = resp ? add_row(sp + o, xp + o, resp + o, cols) : xp + o;
        layer_norm_row(yp + o, row, w, b, cols, eps, mp[r], rp[r]);
      }
    });
  });
}

void layer_norm_backward_cpu(Tensor& gx, Tensor& gw, Tensor& gb, const Tensor& g, const Tensor& g_add,
                             const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                             int64_t rows, int64_t cols) {
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    const T* w = ptr_or_null<T>(weight);
    const T* gap = ptr_or_null<T>(g_add);
    const double* mp = mean.data<double>();
    const double* rp = rstd.data<double>();
    T* gxp = gx.data<T>();
    const bool need_w = gw.defined(), need_b = gb.defined();
    const int64_t max_blocks = std::min<int64_t>(rows, kMaxBlocks);
    std::vector<double> pw(need_w ? max_blocks * cols : 0), pb(need_b ? max_blocks * cols : 0);  // (blocks, cols)
    const int64_t blocks = for_row_blocks(rows, [&](int64_t k, int64_t r0, int64_t r1) {
      double* pwk = need_w ? pw.data() + k * cols : nullptr;
      double* pbk = need_b ? pb.data() + k * cols : nullptr;
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r * cols;
        layer_norm_backward_row_any(gxp + o, pwk, pbk, gp + o, xp + o, w, cols, mp[r], rp[r]);
        if (gap) add_into_row(gxp + o, gap + o, cols);
      }
    });
    if (need_w) combine_partials(gw.data<T>(), pw, blocks, cols);
    if (need_b) combine_partials(gb.data<T>(), pb, blocks, cols);
  });
}

void rms_norm_cpu(Tensor& y, Tensor& sum, Tensor& rstd, const Tensor& x, const Tensor& residual,
                  const Tensor& weight, int64_t rows, int64_t cols, double eps) {
  dispatch_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* resp = ptr_or_null<T>(residual);
    T* sp = resp ? sum.data<T>() : nullptr;
    const T* w = ptr_or_null<T>(weight);
    T* yp = y.data<T>();
    double* rp = rstd.data<double>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r * cols;
        const T* row = resp ? add_row(sp + o, xp + o, resp + o, cols) : xp + o;
        rms_norm_row(yp + o, row, w, cols, eps, rp[r]);
      }
    });
  });
}

void rms_norm_backward_cpu(Tensor& gx, Tensor& gw, const Tensor& g, const Tensor& g_add, const Tensor& x,
                           const Tensor& rstd, const Tensor& weight, int64_t rows, int64_t cols) {
  dispatch_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    const T* w = ptr_or_null<T>(weight);
    const T* gap = ptr_or_null<T>(g_add);
    const double* rp = rstd.data<double>();
    T* gxp = gx.data<T>();
    const bool need_w = gw.defined();
    const int64_t max_blocks = std::min<int64_t>(rows, kMaxBlocks);
    std::vector<double> pw(need_w ? max_blocks * cols : 0);  // (blocks, cols)
    const int64_t blocks = for_row_blocks(rows, [&](int64_t k, int64_t r0, int64_t r1) {
      double* pwk = need_w ? pw.data() + k * cols : nullptr;
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r * cols;
        if (w && pwk) rms_norm_backward_row<T, true, true>(gxp + o, pwk, gp + o, xp + o, w, cols, rp[r]);
        else if (w) rms_norm_backward_row<T, true, false>(gxp + o, pwk, gp + o, xp + o, w, cols, rp[r]);
        else rms_norm_backward_row<T, false, false>(gxp + o, pwk, gp + o, xp + o, w, cols, rp[r]);
        if (gap) add_into_row(gxp + o, gap + o, cols);
      }
    });
    if (need_w) combine_partials(gw.data<T>(), pw, blocks, cols);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(layer_norm_stub, DeviceType::CPU, &layer_norm_cpu);
TSR_REGISTER_KERNEL(layer_norm_backward_stub, DeviceType::CPU, &layer_norm_backward_cpu);
TSR_REGISTER_KERNEL(rms_norm_stub, DeviceType::CPU, &rms_norm_cpu);
TSR_REGISTER_KERNEL(rms_norm_backward_stub, DeviceType::CPU, &rms_norm_backward_cpu);

}  // namespace tessera
