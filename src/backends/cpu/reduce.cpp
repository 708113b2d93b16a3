// CPU kernels for mean, var, max and argmax over the middle dim of a
// contiguous (outer, r, inner) tensor, and the sum of powers behind vector_norm.
// inner == 1: each row is cut into fixed blocks of kBlock elements whose
// partial results are combined in order, so a single long row (the mean of a
// whole tensor) is still parallel and the result does not depend on the thread
// count. inner > 1: tasks own kCols adjacent columns and walk r rows of them,
// so loops stay contiguous and vectorize. Float sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/accumulate.h"
#include "kernels/reduce.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

constexpr int64_t kBlock = 16384;  // elements per partial sum along a row
constexpr int64_t kCols = 256;     // columns per task when inner > 1

// Sum of x[0, n) in double.
template <typename T>
double block_sum(const T* __restrict x, int64_t n) {
  return cpu::sum_double(n, [&](int64_t i) { return x[i]; });
}

template <typename T>
double block_sq_dev(const T* __restrict x, int64_t n, double mean) {
  return cpu::sum_double(n, [&](int64_t i) {
    double d = static_cast<double>(x[i]) - mean;
    return d * d;
  });
}

// Row sums over blocks: out[o] = combine of f(row o, block b), in block order.
// f(o, begin, len) returns the partial for that block.
template <typename F>
void row_partials(int64_t outer, int64_t r, F&& f, std::vector<double>& out) {
  const int64_t blocks = std::max<int64_t>(1, (r + kBlock - 1) / kBlock);
  std::vector<double> part(outer * blocks);
  const int64_t grain = std::max<int64_t>(1, kBlock / std::max<int64_t>(1, std::min(r, kBlock)));
  parallel_for(0, outer * blocks, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, k = t % blocks;
      const int64_t lo = k * kBlock, len = std::min(kBlock, r - lo);
      part[t] = len > 0 ? f(o, lo, len) : 0.0;
    }
  });
  out.assign(outer, 0.0);
  for (int64_t o = 0; o < outer; ++o) {
    double s = 0;
    for (int64_t k = 0; k < blocks; ++k) s += part[o * blocks + k];
    out[o] = s;
  }
}

// Column tasks: f(o, i0, c) handles columns [i0, i0 + c) of slab o.
template <typename F>
void column_tasks(int64_t outer, int64_t r, int64_t inner, F&& f) {
  const int64_t blocks = (inner + kCols - 1) / kCols;
  const int64_t per_task = std::max<int64_t>(1, r) * std::min(inner, kCols);
  parallel_for(0, outer * blocks, std::max<int64_t>(1, 32768 / per_task), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks, i0 = (t % blocks) * kCols;
      f(o, i0, std::min(kCols, inner - i0));
    }
  });
}

// Column sums of an (r, inner) slab restricted to c columns, into acc[0, c).
template <typename T>
void column_sums(const T* __restrict x, int64_t r, int64_t inner, int64_t c, double* __restrict acc) {
  for (int64_t i = 0; i < c; ++i) acc[i] = 0;
  for (int64_t j = 0; j < r; ++j) {
    const T* xr = x + j * inner;
#pragma omp simd
    for (int64_t i = 0; i < c; ++i) acc[i] += static_cast<double>(xr[i]);
  }
}

void mean_cpu(Tensor& out, const Tensor& x, int64_t outer, int64_t r, int64_t inner) {
  dispatch_floating(x.dtype(), "mean", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* y = out.data<T>();
    const double n = static_cast<double>(r);  // r == 0 gives 0/0 = NaN, as torch
    if (inner == 1) {
      std::vector<double> sums;
      row_partials(outer, r, [&](int64_t o, int64_t lo, int64_t len) { return block_sum(xp + o * r + lo, len); },
                   sums);
      for (int64_t o = 0; o < outer; ++o) y[o] = static_cast<T>(sums[o] / n);
      return;
    }
    column_tasks(outer, r, inner, [&](int64_t o, int64_t i0, int64_t c) {
      double acc[kCols];
      column_sums(xp + o * r * inner + i0, r, inner, c, acc);
      for (int64_t i = 0; i < c; ++i) y[o * inner + i0 + i] = static_cast<T>(acc[i] / n);
    });
  });
}

void var_cpu(Tensor& out, const Tensor& x, int64_t outer, int64_t r, int64_t inner, int64_t correction) {
  dispatch_floating(x.dtype(), "var", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* y = out.data<T>();
    const double n = static_cast<double>(r);
    const double dof = std::max<double>(0.0, static_cast<double>(r - correction));
    if (inner == 1) {
      std::vector<double> sums, sq;
      row_partials(outer, r, [&](int64_t o, int64_t lo, int64_t len) { return block_sum(xp + o * r + lo, len); },
                   sums);
      for (double& s : sums) s /= n;
      row_partials(
          outer, r,
          [&](int64_t o, int64_t lo, int64_t len) { return block_sq_dev(xp + o * r + lo, len, sums[o]); }, sq);
      for (int64_t o = 0; o < outer; ++o) y[o] = static_cast<T>(sq[o] / dof);
      return;
    }
    column_tasks(outer, r, inner, [&](int64_t o, int64_t i0, int64_t c) {
      const T* base = xp + o * r * inner + i0;
      double mu[kCols], acc[kCols];
      column_sums(base, r, inner, c, mu);
      for (int64_t i = 0; i < c; ++i) {
        mu[i] /= n;
        acc[i] = 0;
      }
      for (int64_t j = 0; j < r; ++j) {
        const T* xr = base + j * inner;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) {
          double d = static_cast<double>(xr[i]) - mu[i];
          acc[i] += d * d;
        }
      }
      for (int64_t i = 0; i < c; ++i) y[o * inner + i0 + i] = static_cast<T>(acc[i] / dof);
    });
  });
}

void var_backward_cpu(Tensor& gx, const Tensor& g, const Tensor& x, int64_t outer, int64_t r, int64_t inner,
                      double scale) {
  dispatch_floating(x.dtype(), "var", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    T* gxp = gx.data<T>();
    const double n = static_cast<double>(r);
    if (inner == 1) {
      std::vector<double> mu;  // the same blocked sums as the forward
      row_partials(outer, r, [&](int64_t o, int64_t lo, int64_t len) { return block_sum(xp + o * r + lo, len); },
                   mu);
      for (double& m : mu) m /= n;
      const int64_t blocks = (r + kBlock - 1) / kBlock;
      parallel_for(0, outer * blocks, std::max<int64_t>(1, kBlock / std::min(r, kBlock)), [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t o = t / blocks, lo = (t % blocks) * kBlock, len = std::min(kBlock, r - lo);
          const double m = mu[o], f = scale * static_cast<double>(gp[o]);
          const T* xr = xp + o * r + lo;
          T* gxr = gxp + o * r + lo;
#pragma omp simd
          for (int64_t j = 0; j < len; ++j) gxr[j] = static_cast<T>(f * (static_cast<double>(xr[j]) - m));
        }
      });
      return;
    }
    column_tasks(outer, r, inner, [&](int64_t o, int64_t i0, int64_t c) {
      const T* base = xp + o * r * inner + i0;
      T* gbase = gxp + o * r * inner + i0;
      double mu[kCols], f[kCols];
      column_sums(base, r, inner, c, mu);
      for (int64_t i = 0; i < c; ++i) {
        mu[i] /= n;
        f[i] = scale * static_cast<double>(gp[o * inner + i0 + i]);
      }
      for (int64_t j = 0; j < r; ++j) {
        const T* xr = base + j * inner;
        T* gxr = gbase + j * inner;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) gxr[i] = static_cast<T>(f[i] * (static_cast<double>(xr[i]) - mu[i]));
      }
    });
  });
}

template <typename T>
constexpr bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

template <typename T>
T lowest() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}

// Max of x[0, n) ignoring NaN (vectorized), and whether a NaN was seen.
template <typename T>
T max_no_nan(const T* __restrict x, int64_t n, bool& has_nan) {
  T m = lowest<T>();
  int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
  for (int64_t i = 0; i < n; ++i) {
    m = x[i] > m ? x[i] : m;
    nan |= is_nan(x[i]) ? 1 : 0;
  }
  has_nan = nan != 0;
  return m;
}

// Max of a row and its first index (first NaN if any: NaN wins, as torch).
template <typename T>
void row_max(const T* __restrict x, int64_t n, T& value, int64_t& index) {
  bool has_nan;
  T m = max_no_nan(x, n, has_nan);
  int64_t j = 0;
  if (has_nan) {
    while (!is_nan(x[j])) ++j;
    value = x[j];
  } else {
    while (x[j] != m) ++j;
    value = m;
  }
  index = j;
}

void max_dim_cpu(Tensor& values, Tensor& indices, const Tensor& x, int64_t outer, int64_t r, int64_t inner) {
  dispatch_numeric(x.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* vp = values.data<T>();
    int64_t* ip = indices.data<int64_t>();
    if (inner == 1) {
      parallel_for(0, outer, std::max<int64_t>(1, 32768 / r), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) row_max(xp + o * r, r, vp[o], ip[o]);
      });
      return;
    }
    column_tasks(outer, r, inner, [&](int64_t o, int64_t i0, int64_t c) {
      const T* base = xp + o * r * inner + i0;
      T best[kCols];
      int64_t arg[kCols];
      for (int64_t i = 0; i < c; ++i) best[i] = base[i], arg[i] = 0;
      for (int64_t j = 1; j < r; ++j) {
        const T* xr = base + j * inner;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) {
          // Strictly greater keeps the first maximum; a first NaN wins and sticks.
          bool take = xr[i] > best[i] || (is_nan(xr[i]) && !is_nan(best[i]));
          best[i] = take ? xr[i] : best[i];
          arg[i] = take ? j : arg[i];
        }
      }
      for (int64_t i = 0; i < c; ++i) {
        vp[o * inner + i0 + i] = best[i];
        ip[o * inner + i0 + i] = arg[i];
      }
    });
  });
}

void max_dim_backward_cpu(Tensor& gx, const Tensor& g, const Tensor& indices, int64_t outer, int64_t r,
                          int64_t inner) {
  dispatch_floating(gx.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gxp = gx.data<T>();
    const T* gp = g.data<T>();
    const int64_t* ip = indices.data<int64_t>();
    parallel_for(0, outer, std::max<int64_t>(1, 65536 / inner), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t i = 0; i < inner; ++i) gxp[(o * r + ip[o * inner + i]) * inner + i] = gp[o * inner + i];
    });
  });
}

void max_all_cpu(Tensor& out, const Tensor& x) {
  dispatch_numeric(x.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const int64_t n = x.numel();
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<T> part(blocks);
    std::vector<char> nan(blocks);
    parallel_for(0, blocks, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        bool has_nan;
        part[k] = max_no_nan(xp + k * kBlock, std::min(kBlock, n - k * kBlock), has_nan);
        nan[k] = has_nan;
      }
    });
    T m = lowest<T>();
    bool any_nan = false;
    for (int64_t k = 0; k < blocks; ++k) {
      m = part[k] > m ? part[k] : m;
      any_nan = any_nan || nan[k];
    }
    out.data<T>()[0] = any_nan ? std::numeric_limits<T>::quiet_NaN() : m;
  });
}

void max_all_backward_cpu(Tensor& gx, const Tensor& g, const Tensor& x, const Tensor& value) {
  dispatch_floating(x.dtype(), "max", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* gxp = gx.data<T>();
    const T v = value.data<T>()[0];
    const bool want_nan = v != v;
    const int64_t n = x.numel();
    int64_t count = 0;
#pragma omp simd reduction(+ : count)
    for (int64_t i = 0; i < n; ++i) count += (want_nan ? xp[i] != xp[i] : xp[i] == v) ? 1 : 0;
    const T share = g.data<T>()[0] / static_cast<T>(count);
    parallel_for(0, n, 65536, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) gxp[i] = (want_nan ? xp[i] != xp[i] : xp[i] == v) ? share : T(0);
    });
  });
}

// sum |x|^p (max |x| for infinite p) over blocks of 2^15 elements, each summed
// serially, the block results combined in order.
template <typename T>
double pow_sum(const T* x, int64_t n, double p) {
  constexpr int64_t kPowBlock = 1 << 15;
  const int64_t nb = (n + kPowBlock - 1) / kPowBlock;
  std::vector<double> part(nb, 0.0);  // (blocks)
  const bool inf = std::isinf(p);
  parallel_for(0, nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t lo = b * kPowBlock, hi = std::min(n, lo + kPowBlock);
      double s = 0.0;
      if (inf) {
        for (int64_t i = lo; i < hi; ++i) {
          double a = std::abs(static_cast<double>(x[i]));
          if (a > s || std::isnan(a)) s = a;
          if (std::isnan(s)) break;
        }
      } else if (p == 2.0) {
        for (int64_t i = lo; i < hi; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      } else if (p == 1.0) {
        for (int64_t i = lo; i < hi; ++i) s += std::abs(static_cast<double>(x[i]));
      } else {
        for (int64_t i = lo; i < hi; ++i) s += std::pow(std::abs(static_cast<double>(x[i])), p);
      }
      part[b] = s;
    }
  });
  double s = 0.0;
  for (double v : part) {
    if (inf) s = (std::isnan(v) || std::isnan(s)) ? std::nan("") : std::max(s, v);
    else s += v;
  }
  return s;
}

void pow_sum_cpu(const Tensor& out, const Tensor& x, double p) {
  dispatch_floating(x.dtype(), "vector_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    *out.data<double>() = pow_sum(x.data<T>(), x.numel(), p);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(mean_stub, DeviceType::CPU, &mean_cpu);
TSR_REGISTER_KERNEL(var_stub, DeviceType::CPU, &var_cpu);
TSR_REGISTER_KERNEL(var_backward_stub, DeviceType::CPU, &var_backward_cpu);
TSR_REGISTER_KERNEL(max_dim_stub, DeviceType::CPU, &max_dim_cpu);
TSR_REGISTER_KERNEL(max_dim_backward_stub, DeviceType::CPU, &max_dim_backward_cpu);
TSR_REGISTER_KERNEL(max_all_stub, DeviceType::CPU, &max_all_cpu);
TSR_REGISTER_KERNEL(max_all_backward_stub, DeviceType::CPU, &max_all_backward_cpu);
TSR_REGISTER_KERNEL(pow_sum_stub, DeviceType::CPU, &pow_sum_cpu);

}  // namespace tessera
