// Tiled scaled-dot-product attention (flash-attention style) for the CPU:
// blocks of kQueryBlock queries against blocks of kKeyBlock keys with an
// online softmax, so no (L, S) score matrix exists at any time, only one
// (kQueryBlock, kKeyBlock) tile per thread. Causal tiles above the diagonal
// are skipped whole. Forward keeps the log-sum-exp per row; backward
// recomputes each tile's weights from it (FlashAttention-2's order: per key
// block, every query block below it) and takes D_i = dO_i . O_i for the
// softmax term, which holds with dropout on the weights too.
//
// Covers attention without a user mask (causal or not, with or without
// dropout on the weights); bool and additive masks take the row-pass path in
// attention.cpp. Each forward task owns whole rows and each backward task a
// whole batch entry, and the split is static, so a run is bit-identical run
// to run at a fixed thread count.
#include "backends/cpu/attention_tiled.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/dropout_mask.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

// 64 x 64 measured best against 128 x 64 and 32 x 128 at GPT shapes (dev/attention/).
constexpr int64_t kQueryBlock = 64;
constexpr int64_t kKeyBlock = 64;

int64_t blocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

// Keys [0, key_end(i1)) can be unmasked for the query rows below i1.
int64_t key_end(const AttentionParams& p, int64_t i1) { return p.causal ? std::min(p.S, i1) : p.S; }

// Weight (b, i, j) is element dropout_row(p, b, i) + j of the dropout call.
uint64_t dropout_row(const AttentionParams& p, int64_t b, int64_t i) { return static_cast<uint64_t>((b * p.L + i) * p.S); }

DropoutMask dropout_mask(const AttentionParams& p) { return {p.seed, p.offset, p.dropout_p, p.dropout_layout}; }

template <typename T>
T keep_scale(const AttentionParams& p) {
  return p.dropout_p < 1.0 ? static_cast<T>(1.0 / (1.0 - p.dropout_p)) : T(0);
}

// First column of row i (within a tile starting at key j0, width w) that the
// causal mask hides; w when none is hidden.
int64_t causal_cut(const AttentionParams& p, int64_t i, int64_t j0, int64_t w) {
  if (!p.causal) return w;
  return std::clamp<int64_t>(i + 1 - j0, 0, w);
}

template <typename T>
void forward_rows(T* out, T* lse, const T* Q, const T* K, const T* V, int64_t b, int64_t i0, int64_t i1,
                  const AttentionParams& p, T* tile, T* acc, double* row_sum, T* row_max) {
  const int64_t E = p.E, Ev = p.Ev, rows = i1 - i0;
  const T scale = static_cast<T>(p.scale), ks = keep_scale<T>(p);
  constexpr T ninf = -std::numeric_limits<T>::infinity();
  std::fill(acc, acc + rows * Ev, T(0));
  std::fill(row_sum, row_sum + rows, 0.0);
  std::fill(row_max, row_max + rows, ninf);
  const int64_t kend = key_end(p, i1);
  for (int64_t j0 = 0; j0 < kend; j0 += kKeyBlock) {
    const int64_t w = std::min(kKeyBlock, kend - j0);
    gemm(false, true, rows, w, E, scale, Q + i0 * E, E, K + j0 * E, E, T(0), tile, w);  // (rows, w)
    for (int64_t r = 0; r < rows; ++r) {
      T* s = tile + r * w;
      const int64_t cut = causal_cut(p, i0 + r, j0, w);
      T m = row_max[r];
      for (int64_t j = 0; j < cut; ++j) m = std::max(m, s[j]);
      // Row i0 + r sees key 0 in the first tile, so m is finite from then on.
      const T correction = std::exp(row_max[r] - m);
      row_max[r] = m;
      double sum = 0.0;
      for (int64_t j = 0; j < cut; ++j) {
        s[j] = std::exp(s[j] - m);
        sum += static_cast<double>(s[j]);
      }
      std::fill(s + cut, s + w, T(0));
      row_sum[r] = row_sum[r] * static_cast<double>(correction) + sum;
      if (correction != T(1)) {
        T* a = acc + r * Ev;
        for (int64_t c = 0; c < Ev; ++c) a[c] *= correction;
      }
      // Dropout scales the unnormalised weights: the same mask and factor
      // reach each normalised weight, as the row-pass path applies them.
      if (p.dropout_p > 0.0 && cut > 0)
        apply_dropout(s, s, cut, dropout_mask(p), dropout_row(p, b, i0 + r) + static_cast<uint64_t>(j0), ks);
    }
    gemm(false, false, rows, Ev, w, T(1), tile, w, V + j0 * Ev, Ev, T(1), acc, Ev);  // acc += P V
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T inv = static_cast<T>(1.0 / row_sum[r]);
    const T* a = acc + r * Ev;
    T* o = out + (i0 + r) * Ev;
    for (int64_t c = 0; c < Ev; ++c) o[c] = a[c] * inv;
    lse[i0 + r] = static_cast<T>(static_cast<double>(row_max[r]) + std::log(row_sum[r]));
  }
}

template <typename T>
void forward_typed(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                   const AttentionParams& p) {
  const int64_t L = p.L, S = p.S, E = p.E, Ev = p.Ev, nqb = blocks(L, kQueryBlock);
  const T* qp = q.data<T>();
  const T* kp = k.data<T>();
  const T* vp = v.data<T>();
  T* op = out.data<T>();
  T* lp = lse.data<T>();
  parallel_for(0, p.B * nqb, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> tile(kQueryBlock * kKeyBlock), acc(kQueryBlock * Ev), row_max(kQueryBlock);
    std::vector<double> row_sum(kQueryBlock);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / nqb, i0 = (t % nqb) * kQueryBlock, i1 = std::min(L, i0 + kQueryBlock);
      forward_rows(op + b * L * Ev, lp + b * L, qp + b * L * E, kp + b * S * E, vp + b * S * Ev, b, i0, i1, p,
                   tile.data(), acc.data(), row_sum.data(), row_max.data());
    }
  });
}

// Scratch of one backward task: a weight tile, its dropped copy, the
// gradient tile, and D for the entry's rows.
template <typename T>
struct BackwardScratch {
  std::vector<T> P, Pd, dP, D;
  BackwardScratch(int64_t L, bool drop)
      : P(kQueryBlock * kKeyBlock), Pd(drop ? kQueryBlock * kKeyBlock : 0), dP(kQueryBlock * kKeyBlock), D(L) {}
};

template <typename T>
void backward_entry(T* dQ, T* dK, T* dV, const T* dO, const T* O, const T* Q, const T* K, const T* V, const T* lse,
                    int64_t b, const AttentionParams& p, BackwardScratch<T>& sc) {
  const int64_t L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  const bool drop = p.dropout_p > 0.0;
  const T scale = static_cast<T>(p.scale), ks = keep_scale<T>(p);
  for (int64_t i = 0; i < L; ++i) {  // D_i = dO_i . O_i = sum_j Pd_ij dPd_ij
    double d = 0.0;
    for (int64_t c = 0; c < Ev; ++c) d += static_cast<double>(dO[i * Ev + c]) * static_cast<double>(O[i * Ev + c]);
    sc.D[i] = static_cast<T>(d);
  }
  std::fill(dQ, dQ + L * E, T(0));
  std::fill(dK, dK + S * E, T(0));
  std::fill(dV, dV + S * Ev, T(0));
  for (int64_t j0 = 0; j0 < S; j0 += kKeyBlock) {
    const int64_t w = std::min(kKeyBlock, S - j0);
    // Causal: query rows i < j0 see none of these keys.
    const int64_t first_block = p.causal ? std::min(L, j0) / kQueryBlock : 0;
    for (int64_t i0 = first_block * kQueryBlock; i0 < L; i0 += kQueryBlock) {
      const int64_t rows = std::min(kQueryBlock, L - i0);
      T* P = sc.P.data();
      T* dP = sc.dP.data();
      T* Pd = drop ? sc.Pd.data() : P;
      gemm(false, true, rows, w, E, scale, Q + i0 * E, E, K + j0 * E, E, T(0), P, w);
      for (int64_t r = 0; r < rows; ++r) {
        T* s = P + r * w;
        const int64_t cut = causal_cut(p, i0 + r, j0, w);
        const T z = lse[i0 + r];
        for (int64_t j = 0; j < cut; ++j) s[j] = std::exp(s[j] - z);
        std::fill(s + cut, s + w, T(0));
        if (drop)
          apply_dropout(Pd + r * w, s, w, dropout_mask(p), dropout_row(p, b, i0 + r) + static_cast<uint64_t>(j0), ks);
      }
      gemm(true, false, w, Ev, rows, T(1), Pd, w, dO + i0 * Ev, Ev, T(1), dV + j0 * Ev, Ev);  // dV += Pd^T dO
      gemm(false, true, rows, w, Ev, T(1), dO + i0 * Ev, Ev, V + j0 * Ev, Ev, T(0), dP, w);   // dPd = dO V^T
      for (int64_t r = 0; r < rows; ++r) {
        const T* prow = P + r * w;
        const T* drow = Pd + r * w;
        T* grow = dP + r * w;
        const T dt = sc.D[i0 + r];
        if (drop) {
          // Kept iff the dropped weight survived; where P is 0 the term vanishes either way.
          for (int64_t j = 0; j < w; ++j) {
            const T dpj = drow[j] != T(0) || prow[j] == T(0) ? grow[j] * ks : T(0);
            grow[j] = prow[j] * (dpj - dt);
          }
        } else {
          for (int64_t j = 0; j < w; ++j) grow[j] = prow[j] * (grow[j] - dt);
        }
      }
      gemm(false, false, rows, E, w, scale, dP, w, K + j0 * E, E, T(1), dQ + i0 * E, E);  // dQ += scale dS K
      gemm(true, false, w, E, rows, scale, dP, w, Q + i0 * E, E, T(1), dK + j0 * E, E);   // dK += scale dS^T Q
    }
  }
}

template <typename T>
void backward_typed(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& out,
                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse, const AttentionParams& p) {
  const int64_t L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  const T* qp = q.data<T>();
  const T* kp = k.data<T>();
  const T* vp = v.data<T>();
  const T* gp = dout.data<T>();
  const T* outp = out.data<T>();
  const T* lp = lse.data<T>();
  T* dqp = dq.data<T>();
  T* dkp = dk.data<T>();
  T* dvp = dv.data<T>();
  parallel_for(0, p.B, 1, [&](int64_t b0, int64_t b1) {
    BackwardScratch<T> scratch(L, p.dropout_p > 0.0);
    for (int64_t b = b0; b < b1; ++b)
      backward_entry(dqp + b * L * E, dkp + b * S * E, dvp + b * S * Ev, gp + b * L * Ev, outp + b * L * Ev,
                     qp + b * L * E, kp + b * S * E, vp + b * S * Ev, lp + b * L, b, p, scratch);
  });
}

}  // namespace

bool attention_tiled_forward_applies(const AttentionParams& p) {
  return p.mask_kind == MaskKind::None && p.B > 0 && p.L > 0 && p.S > 0;
}

bool attention_tiled_backward_applies(const AttentionParams& p) {
  // One task per batch entry: with fewer entries than threads the row-pass
  // path, whose GEMMs use every thread, is the better split. With one key the
  // weights are constantly 1 and the gradient to q and k exactly 0: the row
  // pass cancels sum_j Pd dPd against dP exactly, while D = dO . O differs
  // from the GEMM's dP by rounding.
  return attention_tiled_forward_applies(p) && p.S > 1 && p.B >= get_num_threads();
}

void attention_tiled_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionParams& p) {
  dispatch_floating(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    forward_typed<typename decltype(tag)::type>(out, lse, q, k, v, p);
  });
}

void attention_tiled_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                              const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse,
                              const AttentionParams& p) {
  dispatch_floating(q.dtype(), "scaled_dot_product_attention backward", [&](auto tag) {
    backward_typed<typename decltype(tag)::type>(dq, dk, dv, dout, out, q, k, v, lse, p);
  });
}

}  // namespace tessera::cpu
