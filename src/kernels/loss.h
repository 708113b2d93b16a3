// Kernel stubs for the fused losses (frontend src/ops/loss.cpp). Logits /
// log-probabilities are viewed as contiguous (N, C, inner) with one "row" per
// (n, j): target has N * inner entries, already checked (index_range_stub) to
// lie in [0, C) or equal ignore_index. CPU kernels: src/backends/cpu/loss.cpp.
#pragma once
#include <cstdint>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

// Class-index loss problem, shared by cross_entropy and nll_loss.
struct ClassLossShape {
  int64_t N = 0, C = 0, inner = 1;
  int64_t rows() const { return N * inner; }
};

struct ClassLossOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;  // cross_entropy only
};

// Per-row loss (rows) (0 for ignored rows) and log-sum-exp (rows), the only
// thing backward keeps besides the logits. weight (C) may be undefined.
// Returns the sum of the per-row losses (in double, fixed order) and, through
// weight_sum, the sum of weight[target] over non-ignored rows (the "mean"
// denominator).
TSR_DECLARE_STUB(cross_entropy_stub,
                 double (*)(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                            const Tensor& weight, ClassLossShape s, ClassLossOptions o, double& weight_sum));
// gx (N, C, inner) = d loss / d logits, recomputing softmax from logits and lse.
// g is the upstream gradient: (rows) when per_row, else one element; every row
// is scaled by g_scale (1 / weight_sum for "mean").
TSR_DECLARE_STUB(cross_entropy_backward_stub,
                 void (*)(const Tensor& gx, const Tensor& logits, const Tensor& lse, const Tensor& target,
                          const Tensor& weight, const Tensor& g, bool per_row, double g_scale, ClassLossShape s,
                          ClassLossOptions o));

// loss (rows) = -weight[t] * log_probs[n, t, j]; same return values as above.
TSR_DECLARE_STUB(nll_loss_stub, double (*)(const Tensor& loss, const Tensor& log_probs, const Tensor& target,
                                           const Tensor& weight, ClassLossShape s, ClassLossOptions o,
                                           double& weight_sum));
// gx (N, C, inner): -weight[t] * g at the target entry of each row, 0 elsewhere.
TSR_DECLARE_STUB(nll_loss_backward_stub,
                 void (*)(const Tensor& gx, const Tensor& target, const Tensor& weight, const Tensor& g,
                          bool per_row, double g_scale, ClassLossShape s, ClassLossOptions o));

// Elementwise BCE-with-logits on contiguous tensors of one shape; weight and
// pos_weight are undefined or already broadcast to that shape (contiguous).
// Returns the sum of the elementwise losses, in double, in element order (the
// "sum" and "mean" reductions).
TSR_DECLARE_STUB(bce_logits_stub, double (*)(const Tensor& loss, const Tensor& x, const Tensor& t,
                                             const Tensor& weight, const Tensor& pos_weight));
// Gradients w.r.t. x, t, weight and pos_weight (each written only if defined),
// from g (full shape when per_elem, else one element) times g_scale.
TSR_DECLARE_STUB(bce_logits_backward_stub,
                 void (*)(const Tensor& gx, const Tensor& gt, const Tensor& gw, const Tensor& gpw, const Tensor& x,
                          const Tensor& t, const Tensor& weight, const Tensor& pos_weight, const Tensor& g,
                          bool per_elem, double g_scale));

}  // namespace tessera
