// CPU kernels for the fused losses. cross_entropy is llm.c's fused classifier:
// forward keeps only one log-sum-exp per row; backward rebuilds softmax from
// the logits and writes softmax - target directly, never storing probabilities.
// Rows are independent, so parallel over rows; sums over rows run serially in
// double afterwards, keeping results bit-identical for any thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/activation_math.h"
#include "kernels/loss.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

// ---- float32 rows with contiguous classes (inner == 1: the language-model
// loss, logits (N, V) with V up to 50,257). The row is read once, in chunks
// that stay in L1: each chunk's max and sum of exp are taken in float32 SIMD
// (exp_f32), then merged into the row's running (max, sum) in double, the
// online log-sum-exp. Other layouts and float64 keep the scalar loops below.
constexpr int64_t kClassChunk = 2048;  // 8 KiB of float32 logits

struct RowLogSumExp {
  double lse = 0.0;       // log sum_c exp(x_c)
  double weighted_x = 0.0;  // sum_c w_c x_c (w_c = 1 without weights), for label smoothing
};

// Max of n floats, NaN skipped. GCC leaves a std::max reduction scalar (NaN
// order), so the lanes are spelled out: a per-lane select it vectorizes.
float max_f32(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  float lane[kLanes];
  for (float& l : lane) l = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
  float m = -std::numeric_limits<float>::infinity();
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (float l : lane) m = l > m ? l : m;
  return m;
}

RowLogSumExp row_logsumexp_f32(const float* x, const float* w, int64_t C, bool want_weighted_x) {
  double m = -std::numeric_limits<double>::infinity();
  double s = 0.0;
  double wx = 0.0;
  for (int64_t c0 = 0; c0 < C; c0 += kClassChunk) {
    const int64_t n = std::min(kClassChunk, C - c0);
    const float* xc = x + c0;
    const float cm = max_f32(xc, n);
    if (want_weighted_x) {
      float d = 0.0f;
      if (w) {
#pragma omp simd reduction(+ : d)
        for (int64_t i = 0; i < n; ++i) d += w[c0 + i] * xc[i];
      } else {
#pragma omp simd reduction(+ : d)
        for (int64_t i = 0; i < n; ++i) d += xc[i];
      }
      wx += static_cast<double>(d);
    }
    // A chunk of -inf adds exp(-inf) = 0 (skipping it avoids -inf - -inf). A
    // NaN anywhere in the chunk makes cs NaN, so the row's loss is NaN.
    if (cm == -std::numeric_limits<float>::infinity()) continue;
    float cs = 0.0f;
#pragma omp simd reduction(+ : cs)
    for (int64_t i = 0; i < n; ++i) cs += exp_f32(xc[i] - cm);
    const double cmd = static_cast<double>(cm);
    if (cmd > m) {
      s = s * std::exp(m - cmd) + static_cast<double>(cs);
      m = cmd;
    } else {
      s += static_cast<double>(cs) * std::exp(cmd - m);
    }
  }
  // Every logit -inf: NaN, as exp(-inf - -inf) gives in the scalar form.
  const double lse = m == -std::numeric_limits<double>::infinity() ? std::numeric_limits<double>::quiet_NaN()
                                                                   : m + std::log(s);
  return {lse, wx};
}

template <typename T>
const T* opt_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

double sum_rows(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

template <typename T>
double weight_sum_of(const int64_t* tp, const T* wp, int64_t rows, int64_t ignore_index) {
  double ws = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    if (tp[r] != ignore_index) ws += wp ? static_cast<double>(wp[tp[r]]) : 1.0;
  return ws;
}

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)); }

double cross_entropy_kernel(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                            const Tensor& weight, ClassLossShape s, ClassLossOptions o, double& weight_sum) {
  const int64_t rows = s.rows(), C = s.C, inner = s.inner;
  const int64_t* tp = target.data<int64_t>();
  std::vector<double> row_loss(rows);  // (rows) summed serially below
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = logits.data<T>();
    const T* wp = opt_data<T>(weight);
    T* lp = loss.data<T>();
    T* sp = lse.data<T>();
    const double ls = o.label_smoothing;
    double w_total = static_cast<double>(C);  // sum_c w_c
    if (wp) {
      w_total = 0.0;
      for (int64_t c = 0; c < C; ++c) w_total += static_cast<double>(wp[c]);
    }
    parallel_for(0, rows, row_grain(C), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t t = tp[r];
        if (t == o.ignore_index) {
          lp[r] = T(0);
          sp[r] = T(0);
          row_loss[r] = 0.0;
          continue;
        }
        if constexpr (std::is_same_v<T, float>) {
          if (inner == 1) {
            const float* x = xp + r * C;
            const RowLogSumExp rs = row_logsumexp_f32(x, wp, C, ls > 0.0);
            const double z = rs.lse;
            double l = (wp ? static_cast<double>(wp[t]) : 1.0) * (z - static_cast<double>(x[t]));
            // -sum_c w_c log p_c = z sum_c w_c - sum_c w_c x_c
            if (ls > 0.0) l = (1.0 - ls) * l + ls / static_cast<double>(C) * (z * w_total - rs.weighted_x);
            lp[r] = static_cast<T>(l);
            sp[r] = static_cast<T>(z);
            row_loss[r] = l;
            continue;
          }
        }
        const T* x = xp + (r / inner) * C * inner + (r % inner);  // x[c * inner]
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c * inner]);
        double se = 0.0;
        for (int64_t c = 0; c < C; ++c) se += static_cast<double>(std::exp(x[c * inner] - m));
        const double z = static_cast<double>(m) + std::log(se);
        const double wt = wp ? static_cast<double>(wp[t]) : 1.0;
        double l = wt * (z - static_cast<double>(x[t * inner]));
        if (ls > 0.0) {
          // -sum_c w_c log p_c = sum_c w_c (z - x_c)
          double smooth = 0.0;
          for (int64_t c = 0; c < C; ++c)
            smooth += (wp ? static_cast<double>(wp[c]) : 1.0) * (z - static_cast<double>(x[c * inner]));
          l = (1.0 - ls) * l + ls / static_cast<double>(C) * smooth;
        }
        lp[r] = static_cast<T>(l);
        sp[r] = static_cast<T>(z);
        row_loss[r] = l;
      }
    });
    weight_sum = weight_sum_of(tp, wp, rows, o.ignore_index);
  });
  return sum_rows(row_loss);
}

void cross_entropy_backward_kernel(const Tensor& gx, const Tensor& logits, const Tensor& lse, const Tensor& target,
                                   const Tensor& weight, const Tensor& g, bool per_row, double g_scale,
                                   ClassLossShape s, ClassLossOptions o) {
  const int64_t rows = s.rows(), C = s.C, inner = s.inner;
  const int64_t* tp = target.data<int64_t>();
  dispatch_floating(logits.dtype(), "cross_entropy backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = logits.data<T>();
    const T* sp = lse.data<T>();
    const T* wp = opt_data<T>(weight);
    const T* gp = g.data<T>();
    T* out = gx.data<T>();
    const double ls = o.label_smoothing;
    // Smoothing spreads mass over all classes with their weights: W = sum_c w_c.
    double w_total = static_cast<double>(C);
    if (wp) {
      w_total = 0.0;
      for (int64_t c = 0; c < C; ++c) w_total += static_cast<double>(wp[c]);
    }
    parallel_for(0, rows, row_grain(C), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t base = (r / inner) * C * inner + (r % inner);
        const T* x = xp + base;
        T* gr = out + base;
        const int64_t t = tp[r];
        if (t == o.ignore_index) {
          for (int64_t c = 0; c < C; ++c) gr[c * inner] = T(0);
          continue;
        }
        const double gi = static_cast<double>(per_row ? gp[r] : gp[0]) * g_scale;
        const T z = sp[r];
        // d/dx_c = gi * [(1-ls) w_t (p_c - [c==t]) + ls/C (W p_c - w_c)]
        const double a = gi * (1.0 - ls) * (wp ? static_cast<double>(wp[t]) : 1.0);
        const double bsm = gi * ls / static_cast<double>(C);
        const double pc_coef = a + bsm * w_total;
        if constexpr (std::is_same_v<T, float>) {
          if (inner == 1) {  // float32 SIMD, exp_f32: one read of the row, one write
            const float pc = static_cast<float>(pc_coef), zf = z;
            if (ls > 0.0 && wp) {
              const float bs = static_cast<float>(bsm);
#pragma omp simd
              for (int64_t c = 0; c < C; ++c) gr[c] = pc * exp_f32(x[c] - zf) - bs * wp[c];
            } else {
              const float bs = static_cast<float>(ls > 0.0 ? bsm : 0.0);
#pragma omp simd
              for (int64_t c = 0; c < C; ++c) gr[c] = pc * exp_f32(x[c] - zf) - bs;
            }
            gr[t] = static_cast<T>(static_cast<double>(gr[t]) - a);
            continue;
          }
        }
        for (int64_t c = 0; c < C; ++c) {
          const double p = static_cast<double>(std::exp(x[c * inner] - z));
          double v = pc_coef * p;
          if (ls > 0.0) v -= bsm * (wp ? static_cast<double>(wp[c]) : 1.0);
          gr[c * inner] = static_cast<T>(v);
        }
        gr[t * inner] = static_cast<T>(static_cast<double>(gr[t * inner]) - a);
      }
    });
  });
}

double nll_loss_kernel(const Tensor& loss, const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                       ClassLossShape s, ClassLossOptions o, double& weight_sum) {
  const int64_t rows = s.rows(), C = s.C, inner = s.inner;
  const int64_t* tp = target.data<int64_t>();
  double total = 0.0;
  dispatch_floating(log_probs.dtype(), "nll_loss", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = log_probs.data<T>();
    const T* wp = opt_data<T>(weight);
    T* lp = loss.data<T>();
    // One multiply per row: not worth threads.
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = tp[r];
      if (t == o.ignore_index) {
        lp[r] = T(0);
        continue;
      }
      const double wt = wp ? static_cast<double>(wp[t]) : 1.0;
      const double l = -wt * static_cast<double>(xp[(r / inner) * C * inner + t * inner + (r % inner)]);
      lp[r] = static_cast<T>(l);
      total += l;
    }
    weight_sum = weight_sum_of(tp, wp, rows, o.ignore_index);
  });
  return total;
}

void nll_loss_backward_kernel(const Tensor& gx, const Tensor& target, const Tensor& weight, const Tensor& g,
                              bool per_row, double g_scale, ClassLossShape s, ClassLossOptions o) {
  const int64_t rows = s.rows(), C = s.C, inner = s.inner;
  const int64_t* tp = target.data<int64_t>();
  dispatch_floating(gx.dtype(), "nll_loss backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* wp = opt_data<T>(weight);
    const T* gp = g.data<T>();
    T* out = gx.data<T>();  // zeroed by the caller
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = tp[r];
      if (t == o.ignore_index) continue;
      const double wt = wp ? static_cast<double>(wp[t]) : 1.0;
      const double gi = static_cast<double>(per_row ? gp[r] : gp[0]) * g_scale;
      out[(r / inner) * C * inner + t * inner + (r % inner)] = static_cast<T>(-wt * gi);
    }
  });
}

// softplus(-x) = log(1 + exp(-x)), stable for any x.
template <typename T>
T softplus_neg(T x) {
  return std::max(-x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

double bce_logits_kernel(const Tensor& loss, const Tensor& x, const Tensor& t, const Tensor& weight,
                         const Tensor& pos_weight) {
  const int64_t n = x.numel();
  double total = 0.0;
  dispatch_floating(x.dtype(), "binary_cross_entropy_with_logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* tp = t.data<T>();
    const T* wp = opt_data<T>(weight);
    const T* pwp = opt_data<T>(pos_weight);
    T* lp = loss.data<T>();
    parallel_for(0, n, 8192, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T lw = pwp ? T(1) + (pwp[i] - T(1)) * tp[i] : T(1);
        T l = (T(1) - tp[i]) * xp[i] + lw * softplus_neg(xp[i]);
        lp[i] = wp ? l * wp[i] : l;
      }
    });
    for (int64_t i = 0; i < n; ++i) total += static_cast<double>(lp[i]);  // serial: a fixed order
  });
  return total;
}

void bce_logits_backward_kernel(const Tensor& gx, const Tensor& gt, const Tensor& gw, const Tensor& gpw,
                                const Tensor& x, const Tensor& t, const Tensor& weight, const Tensor& pos_weight,
                                const Tensor& g, bool per_elem, double g_scale) {
  const int64_t n = x.numel();
  dispatch_floating(x.dtype(), "binary_cross_entropy_with_logits backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* tp = t.data<T>();
    const T* wp = opt_data<T>(weight);
    const T* pwp = opt_data<T>(pos_weight);
    const T* gp = g.data<T>();
    T* gxp = gx.defined() ? gx.data<T>() : nullptr;
    T* gtp = gt.defined() ? gt.data<T>() : nullptr;
    T* gwp = gw.defined() ? gw.data<T>() : nullptr;
    T* gpwp = gpw.defined() ? gpw.data<T>() : nullptr;
    const T scale = static_cast<T>(g_scale);
    parallel_for(0, n, 8192, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T gi = (per_elem ? gp[i] : gp[0]) * scale;
        const T w = wp ? wp[i] : T(1);
        const T pw = pwp ? pwp[i] : T(1);
        const T xi = xp[i], ti = tp[i];
        const T lw = T(1) + (pw - T(1)) * ti;
        const T sig = T(1) / (T(1) + std::exp(-xi));
        if (gxp) gxp[i] = gi * w * (lw * sig - pw * ti);  // lw*sigmoid(x) - pw*t, as torch
        if (gtp || gwp || gpwp) {
          const T sp = softplus_neg(xi);
          if (gtp) gtp[i] = gi * w * ((pw - T(1)) * sp - xi);
          if (gwp) gwp[i] = gi * ((T(1) - ti) * xi + lw * sp);
          if (gpwp) gpwp[i] = gi * w * ti * sp;
        }
      }
    });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(cross_entropy_stub, DeviceType::CPU, &cross_entropy_kernel);
TSR_REGISTER_KERNEL(cross_entropy_backward_stub, DeviceType::CPU, &cross_entropy_backward_kernel);
TSR_REGISTER_KERNEL(nll_loss_stub, DeviceType::CPU, &nll_loss_kernel);
TSR_REGISTER_KERNEL(nll_loss_backward_stub, DeviceType::CPU, &nll_loss_backward_kernel);
TSR_REGISTER_KERNEL(bce_logits_stub, DeviceType::CPU, &bce_logits_kernel);
TSR_REGISTER_KERNEL(bce_logits_backward_stub, DeviceType::CPU, &bce_logits_backward_kernel);

}  // namespace tessera::cpu
