// CPU scaled-dot-product attention, forward and backward: the registered
// kernels. Attention without a user mask runs tiled (attention_tiled.cpp, no
// (L, S) matrix); bool and additive masks, and a backward with fewer batch
// entries than threads, take the row pass here: per batch entry the two
// products go through GEMM and the rows (mask, causal, softmax, dropout) are
// handled in one pass in between, on an (L, S) scratch block. Forward keeps
// only a log-sum-exp per row; backward recomputes the weights from it (one
// extra GEMM). With many batch entries each thread takes whole entries (GEMMs
// then run single-threaded); with few, the entries run in turn and GEMMs and
// row loops use all threads.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/attention_tiled.h"
#include "backends/cpu/blas.h"
#include "backends/cpu/dropout_mask.h"
#include "kernels/attention.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

int64_t row_grain(int64_t S) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(S, 1)); }

// Runs fn(b, scratch) for every batch entry, with per-task scratch of `n` Ts.
template <typename T, typename F>
void for_each_batch(const AttentionParams& p, int64_t n, F&& fn) {
  const int64_t grain = p.B >= get_num_threads() ? 1 : p.B;  // grain == B: one inline task
  parallel_for(0, p.B, std::max<int64_t>(grain, 1), [&](int64_t b0, int64_t b1) {
    std::vector<T> scratch(static_cast<size_t>(n));
    for (int64_t b = b0; b < b1; ++b) fn(b, scratch.data());
  });
}

// Row i of batch b's scores: apply causal and user masks in place.
template <typename T>
void mask_row(T* row, int64_t b, int64_t i, const AttentionParams& p, const void* mask_base) {
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  if (p.causal)
    for (int64_t j = i + 1; j < p.S; ++j) row[j] = ninf;
  if (p.mask_kind == MaskKind::None) return;
  const int64_t off = p.mask_batch_offset[b] + i * p.mask_row_stride;
  const int64_t cs = p.mask_col_stride;
  if (p.mask_kind == MaskKind::Bool) {
    const bool* m = static_cast<const bool*>(mask_base) + off;
    for (int64_t j = 0; j < p.S; ++j)
      if (!m[j * cs]) row[j] = ninf;
  } else {
    const T* m = static_cast<const T*>(mask_base) + off;
    for (int64_t j = 0; j < p.S; ++j) row[j] += m[j * cs];
  }
}

// Zero the score gradient where row i was masked by a bool or causal mask:
// like torch's masked_fill backward, so a fully masked (NaN) row sends zeros,
// not NaN, to q and k.
template <typename T>
void zero_masked(T* row, int64_t b, int64_t i, const AttentionParams& p, const void* mask_base) {
  if (p.causal)
    for (int64_t j = i + 1; j < p.S; ++j) row[j] = T(0);
  if (p.mask_kind != MaskKind::Bool) return;
  const bool* m = static_cast<const bool*>(mask_base) + p.mask_batch_offset[b] + i * p.mask_row_stride;
  for (int64_t j = 0; j < p.S; ++j)
    if (!m[j * p.mask_col_stride]) row[j] = T(0);
}

// Weight (b, i, j) is element dropout_row(p, b, i) + j of the dropout call.
uint64_t dropout_row(const AttentionParams& p, int64_t b, int64_t i) { return static_cast<uint64_t>((b * p.L + i) * p.S); }

DropoutMask dropout_mask(const AttentionParams& p) { return {p.seed, p.offset, p.dropout_p, p.dropout_layout}; }

template <typename T>
T keep_scale(const AttentionParams& p) {
  return p.dropout_p < 1.0 ? static_cast<T>(1.0 / (1.0 - p.dropout_p)) : T(0);
}

template <typename T>
void forward_typed(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                   const Tensor& mask, const AttentionParams& p) {
  const int64_t L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  const T* qp = q.data<T>();
  const T* kp = k.data<T>();
  const T* vp = v.data<T>();
  T* op = out.data<T>();
  T* lp = lse.data<T>();
  const void* mask_base = mask.defined() ? mask.storage()->data() : nullptr;
  const T ks = keep_scale<T>(p);
  for_each_batch<T>(p, L * S, [&](int64_t b, T* P) {  // P (L, S)
    gemm(false, true, L, S, E, static_cast<T>(p.scale), qp + b * L * E, E, kp + b * S * E, E, T(0), P, S);
    parallel_for(0, L, row_grain(S), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* row = P + i * S;
        mask_row(row, b, i, p, mask_base);
        // A row with every key masked has max -inf and becomes NaN, as torch 1.13's softmax.
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < S; ++j) m = std::max(m, row[j]);
        double sum = 0.0;
        for (int64_t j = 0; j < S; ++j) {
          row[j] = std::exp(row[j] - m);
          sum += static_cast<double>(row[j]);
        }
        const T inv = static_cast<T>(1.0 / sum);
        for (int64_t j = 0; j < S; ++j) row[j] *= inv;
        lp[b * L + i] = static_cast<T>(static_cast<double>(m) + std::log(sum));
        if (p.dropout_p > 0.0) {
          apply_dropout(row, row, S, dropout_mask(p), dropout_row(p, b, i), ks);
        }
      }
    });
    gemm(false, false, L, Ev, S, T(1), P, S, vp + b * S * Ev, Ev, T(0), op + b * L * Ev, Ev);
  });
}

template <typename T>
void backward_typed(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dmask, const Tensor& dout,
                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, const Tensor& lse,
                    const AttentionParams& p) {
  const int64_t L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  const T* qp = q.data<T>();
  const T* kp = k.data<T>();
  const T* vp = v.data<T>();
  const T* gp = dout.data<T>();
  const T* lp = lse.data<T>();
  T* dqp = dq.data<T>();
  T* dkp = dk.data<T>();
  T* dvp = dv.data<T>();
  T* dmp = dmask.defined() ? dmask.data<T>() : nullptr;
  const void* mask_base = mask.defined() ? mask.storage()->data() : nullptr;
  const bool drop = p.dropout_p > 0.0;
  const T ks = keep_scale<T>(p);
  const T scale = static_cast<T>(p.scale);
  // Scratch: P (L, S) weights, dP (L, S), and with dropout Pd (L, S) the dropped weights.
  for_each_batch<T>(p, (drop ? 3 : 2) * L * S, [&](int64_t b, T* scratch) {
    T* P = scratch;
    T* dP = scratch + L * S;
    T* Pd = drop ? scratch + 2 * L * S : P;
    const T* Q = qp + b * L * E;
    const T* K = kp + b * S * E;
    const T* V = vp + b * S * Ev;
    const T* dO = gp + b * L * Ev;
    gemm(false, true, L, S, E, scale, Q, E, K, E, T(0), P, S);
    parallel_for(0, L, row_grain(S), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* row = P + i * S;
        mask_row(row, b, i, p, mask_base);
        const T z = lp[b * L + i];
        for (int64_t j = 0; j < S; ++j) row[j] = std::exp(row[j] - z);
        if (drop) {
          apply_dropout(Pd + i * S, row, S, dropout_mask(p), dropout_row(p, b, i), ks);
        }
      }
    });
    // dV = Pd^T dO ; dPd = dO V^T
    gemm(true, false, S, Ev, L, T(1), Pd, S, dO, Ev, T(0), dvp + b * S * Ev, Ev);
    gemm(false, true, L, S, Ev, T(1), dO, Ev, V, Ev, T(0), dP, S);
    // dS = P * (dP - sum_j Pd dPd), with dP = dPd * keep / (1 - p); in place in dP.
    parallel_for(0, L, row_grain(S), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* prow = P + i * S;
        const T* drow = Pd + i * S;
        T* grow = dP + i * S;
        double d = 0.0;
        for (int64_t j = 0; j < S; ++j) d += static_cast<double>(drow[j]) * static_cast<double>(grow[j]);
        const T dt = static_cast<T>(d);
        if (drop) {
          // Kept iff the dropped weight survived; where P is 0 the term vanishes
          // either way, so no second pass over the Philox stream is needed.
          for (int64_t j = 0; j < S; ++j) {
            const T dpj = drow[j] != T(0) || prow[j] == T(0) ? grow[j] * ks : T(0);
            grow[j] = prow[j] * (dpj - dt);
          }
        } else {
          for (int64_t j = 0; j < S; ++j) grow[j] = prow[j] * (grow[j] - dt);
        }
        zero_masked(grow, b, i, p, mask_base);
        if (dmp) std::copy(grow, grow + S, dmp + (b * L + i) * S);
      }
    });
    // dQ = scale dS K ; dK = scale dS^T Q
    gemm(false, false, L, E, S, scale, dP, S, K, E, T(0), dqp + b * L * E, E);
    gemm(true, false, S, E, L, scale, dP, S, Q, E, T(0), dkp + b * S * E, E);
  });
}

void attention_kernel(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                      const Tensor& mask, const AttentionParams& p) {
  if (attention_tiled_forward_applies(p)) return attention_tiled_forward(out, lse, q, k, v, p);
  dispatch_floating(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    forward_typed<typename decltype(tag)::type>(out, lse, q, k, v, mask, p);
  });
}

void attention_backward_kernel(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dmask,
                               const Tensor& dout, const Tensor& out, const Tensor& q, const Tensor& k,
                               const Tensor& v, const Tensor& mask, const Tensor& lse, const AttentionParams& p) {
  if (attention_tiled_backward_applies(p)) return attention_tiled_backward(dq, dk, dv, dout, out, q, k, v, lse, p);
  dispatch_floating(q.dtype(), "scaled_dot_product_attention backward", [&](auto tag) {
    backward_typed<typename decltype(tag)::type>(dq, dk, dv, dmask, dout, q, k, v, mask, lse, p);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(attention_stub, DeviceType::CPU, &attention_kernel);
TSR_REGISTER_KERNEL(attention_backward_stub, DeviceType::CPU, &attention_backward_kernel);

}  // namespace tessera::cpu
