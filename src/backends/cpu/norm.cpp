// CPU kernels for layer_norm and rms_norm on a contiguous (rows, cols) tensor.
// Forward: one row per iteration, statistics in double (two-pass variance),
// then a vectorized affine pass. Backward is fused: one pass per row computes
// gx and accumulates the weight/bias gradients into per-block partials
// (double); a fixed number of row blocks, combined in order, keeps gw/gb
// independent of the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/norm_kernels.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

constexpr int64_t kMaxBlocks = 32;  // row blocks for parameter-gradient partials

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <typename T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename T>
double sum_of(const T* __restrict x, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
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

void layer_norm_cpu(Tensor& y, Tensor& mean, Tensor& rstd, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, int64_t rows, int64_t cols, double eps) {
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* w = ptr_or_null<T>(weight);
    const T* b = ptr_or_null<T>(bias);
    T* yp = y.data<T>();
    T* mp = mean.data<T>();
    T* rp = rstd.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * cols;  // (cols)
        T* yr = yp + r * cols;
        const double mu = sum_of(xr, cols) / static_cast<double>(cols);
        double v = 0;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < cols; ++j) {
          double d = static_cast<double>(xr[j]) - mu;
          v += d * d;
        }
        const double rs = 1.0 / std::sqrt(v / static_cast<double>(cols) + eps);
        mp[r] = static_cast<T>(mu);
        rp[r] = static_cast<T>(rs);
        // y = (x * rstd - mean * rstd) * w + b
        const T a = static_cast<T>(rs), c = static_cast<T>(-mu * rs);
        if (w && b) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] * a + c) * w[j] + b[j];
        } else if (w) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] * a + c) * w[j];
        } else if (b) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] * a + c) + b[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] * a + c;
        }
      }
    });
  });
}

// gx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w.
void layer_norm_backward_cpu(Tensor& gx, Tensor& gw, Tensor& gb, const Tensor& g, const Tensor& x,
                             const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t rows,
                             int64_t cols) {
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    const T* w = ptr_or_null<T>(weight);
    const T* mp = mean.data<T>();
    const T* rp = rstd.data<T>();
    T* gxp = gx.data<T>();
    T* gwp = mut_ptr_or_null<T>(gw);
    T* gbp = mut_ptr_or_null<T>(gb);
    const int64_t max_blocks = std::min<int64_t>(rows, kMaxBlocks);
    std::vector<double> pw(gwp ? max_blocks * cols : 0), pb(gbp ? max_blocks * cols : 0);  // (blocks, cols)
    const double inv_n = 1.0 / static_cast<double>(cols);
    const int64_t blocks = for_row_blocks(rows, [&](int64_t k, int64_t r0, int64_t r1) {
      double* pwk = gwp ? pw.data() + k * cols : nullptr;
      double* pbk = gbp ? pb.data() + k * cols : nullptr;
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * cols;
        const T* gr = gp + r * cols;
        T* gxr = gxp + r * cols;
        const T mu = mp[r], rs = rp[r];
        double sa = 0, sb = 0;  // sum(dxhat), sum(dxhat * xhat)
#pragma omp simd reduction(+ : sa, sb)
        for (int64_t j = 0; j < cols; ++j) {
          T xhat = (xr[j] - mu) * rs;
          T dxhat = w ? gr[j] * w[j] : gr[j];
          sa += dxhat;
          sb += static_cast<double>(dxhat) * xhat;
        }
        const T ca = static_cast<T>(sa * inv_n), cb = static_cast<T>(sb * inv_n);
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) {
          T xhat = (xr[j] - mu) * rs;
          T dxhat = w ? gr[j] * w[j] : gr[j];
          gxr[j] = rs * (dxhat - ca - xhat * cb);
        }
        if (pwk) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) pwk[j] += static_cast<double>(gr[j]) * ((xr[j] - mu) * rs);
        }
        if (pbk) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) pbk[j] += gr[j];
        }
      }
    });
    if (gwp) combine_partials(gwp, pw, blocks, cols);
    if (gbp) combine_partials(gbp, pb, blocks, cols);
  });
}

void rms_norm_cpu(Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& weight, int64_t rows, int64_t cols,
                  double eps) {
  dispatch_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* w = ptr_or_null<T>(weight);
    T* yp = y.data<T>();
    T* rp = rstd.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * cols;  // (cols)
        T* yr = yp + r * cols;
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < cols; ++j) ss += static_cast<double>(xr[j]) * xr[j];
        const T rs = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(cols) + eps));
        rp[r] = rs;
        if (w) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] * rs) * w[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] * rs;
        }
      }
    });
  });
}

// gx = rstd * (dxhat - xhat * mean(dxhat * xhat)), xhat = x * rstd, dxhat = g * w.
void rms_norm_backward_cpu(Tensor& gx, Tensor& gw, const Tensor& g, const Tensor& x, const Tensor& rstd,
                           const Tensor& weight, int64_t rows, int64_t cols) {
  dispatch_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    const T* w = ptr_or_null<T>(weight);
    const T* rp = rstd.data<T>();
    T* gxp = gx.data<T>();
    T* gwp = mut_ptr_or_null<T>(gw);
    const int64_t max_blocks = std::min<int64_t>(rows, kMaxBlocks);
    std::vector<double> pw(gwp ? max_blocks * cols : 0);  // (blocks, cols)
    const double inv_n = 1.0 / static_cast<double>(cols);
    const int64_t blocks = for_row_blocks(rows, [&](int64_t k, int64_t r0, int64_t r1) {
      double* pwk = gwp ? pw.data() + k * cols : nullptr;
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * cols;
        const T* gr = gp + r * cols;
        T* gxr = gxp + r * cols;
        const T rs = rp[r];
        double sb = 0;
#pragma omp simd reduction(+ : sb)
        for (int64_t j = 0; j < cols; ++j) {
          T dxhat = w ? gr[j] * w[j] : gr[j];
          sb += static_cast<double>(dxhat) * (xr[j] * rs);
        }
        const T cb = static_cast<T>(sb * inv_n);
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) {
          T dxhat = w ? gr[j] * w[j] : gr[j];
          gxr[j] = rs * (dxhat - (xr[j] * rs) * cb);
        }
        if (pwk) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) pwk[j] += static_cast<double>(gr[j]) * (xr[j] * rs);
        }
      }
    });
    if (gwp) combine_partials(gwp, pw, blocks, cols);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(layer_norm_stub, DeviceType::CPU, &layer_norm_cpu);
TSR_REGISTER_KERNEL(layer_norm_backward_stub, DeviceType::CPU, &layer_norm_backward_cpu);
TSR_REGISTER_KERNEL(rms_norm_stub, DeviceType::CPU, &rms_norm_cpu);
TSR_REGISTER_KERNEL(rms_norm_backward_stub, DeviceType::CPU, &rms_norm_backward_cpu);

}  // namespace tessera
