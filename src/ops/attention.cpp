// scaled_dot_product_attention: softmax(q k^T * scale + mask) v, fused, with
// its own backward. Batch dims of any rank broadcast among q, k, v and the
// mask; the kernel sees them flattened into one. A query row whose keys are
// all masked gives NaN, as softmax over all -inf does in torch 1.13 (its
// gradient to q and k is zero there, as through torch's masked_fill).
#include "tessera/ops/attention.h"
#include "tessera/core/profiler.h"

#include <cmath>

#include "kernels/attention.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"

namespace tessera {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

Shape with_tail(Shape s, int64_t a, int64_t b) {
  s.push_back(a);
  s.push_back(b);
  return s;
}

// t broadcast to batch + its own last two dims, as a contiguous (B, m, n).
Tensor flat_batch(const Tensor& t, const Shape& batch, int64_t B) {
  const int64_t m = t.size(-2), n = t.size(-1);
  return t.detach().expand(with_tail(batch, m, n)).contiguous().view({B, m, n});
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool is_causal, double dropout_p, std::optional<double> scale, Generator* gen) {
  TSR_PROFILE_OP(kOp, q, k, v, attn_mask);
  for (const Tensor* t : {&q, &k, &v}) {
    TSR_CHECK(t->defined(), Error, kOp, ": q, k and v must be defined");
    TSR_CHECK(t->dtype() == DType::F32 || t->dtype() == DType::F64, DTypeError, kOp,
              ": expected float32 or float64 q, k, v, got ", dtype_name(t->dtype()));
    TSR_CHECK(t->dtype() == q.dtype(), DTypeError, kOp, ": q, k, v dtypes differ (", dtype_name(q.dtype()), ", ",
              dtype_name(k.dtype()), ", ", dtype_name(v.dtype()), ")");
    TSR_CHECK(t->dim() >= 2, ShapeError, kOp, ": q, k, v need at least 2 dims (..., seq, features), got shapes ",
              shape_str(q.shape()), ", ", shape_str(k.shape()), ", ", shape_str(v.shape()));
  }
  const int64_t L = q.size(-2), E = q.size(-1), S = k.size(-2), Ev = v.size(-1);
  TSR_CHECK(k.size(-1) == E && v.size(-2) == S, ShapeError, kOp, ": expected q (..., L, E), k (..., S, E), ",
            "v (..., S, Ev); got q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ",
            shape_str(v.shape()));
  TSR_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, Error, kOp, ": dropout_p must be in [0, 1], got ", dropout_p);
  Shape batch = broadcast_shapes(broadcast_shapes(batch_of(q), batch_of(k), kOp), batch_of(v), kOp);

  AttentionParams p;
  Tensor mask;  // attn_mask broadcast to (batch..., L, S), a view
  if (attn_mask.defined()) {
    TSR_CHECK(attn_mask.dtype() == DType::Bool || attn_mask.dtype() == q.dtype(), DTypeError, kOp,
              ": attn_mask must be bool or ", dtype_name(q.dtype()), " like q, got ", dtype_name(attn_mask.dtype()));
    Shape full = broadcast_shapes(attn_mask.shape(), with_tail(batch, L, S), kOp);
    TSR_CHECK(full[full.size() - 2] == L && full[full.size() - 1] == S, ShapeError, kOp, ": attn_mask shape ",
              shape_str(attn_mask.shape()), " does not broadcast to (..., L, S) = (..., ", L, ", ", S, ")");
    batch = Shape(full.begin(), full.end() - 2);
    mask = attn_mask.detach().expand(full);
    p.mask_kind = attn_mask.dtype() == DType::Bool ? MaskKind::Bool : MaskKind::Additive;
  }
  const int64_t B = shape_numel(batch);
  p.B = B;
  p.L = L;
  p.S = S;
  p.E = E;
  p.Ev = Ev;
  p.scale = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  p.causal = is_causal;
  if (mask.defined()) {
    // Element offset of each flattened batch entry's (L, S) block.
    const int64_t nb = static_cast<int64_t>(batch.size());
    p.mask_batch_offset.resize(B);
    for (int64_t b = 0; b < B; ++b) {
      int64_t off = mask.offset(), r = b;
      for (int64_t d = nb - 1; d >= 0; --d) {
        off += (r % batch[d]) * mask.stride(d);
        r /= batch[d];
      }
      p.mask_batch_offset[b] = off;
    }
    p.mask_row_stride = mask.stride(-2);
    p.mask_col_stride = mask.stride(-1);
  }
  if (dropout_p > 0.0) {
    Generator& g = gen ? *gen : default_generator();
    p.dropout_p = dropout_p;
    p.seed = g.seed();
    p.offset = g.reserve(static_cast<uint64_t>(B * L * S));
    p.dropout_layout = dropout_mask_layout();
  }

  Tensor qc = flat_batch(q, batch, B), kc = flat_batch(k, batch, B), vc = flat_batch(v, batch, B);
  TensorOptions to{.dtype = q.dtype(), .device = q.device()};
  Tensor out = empty({B, L, Ev}, to);  // (B, L, Ev)
  Tensor lse = empty({B, L}, to);      // (B, L)
  attention_stub[q.device()](out, lse, qc, kc, vc, mask, p);
  const Tensor out_flat = out;  // (B, L, Ev)
  // q k^T and p v over the full (L, S) matrix, as nanoGPT's MFU formula counts them (causal or not);
  // the backward counts twice this.
  const double attention_flops = 2.0 * static_cast<double>(B * L * S) * static_cast<double>(E + Ev);
  TSR_PROFILE_FLOPS(attention_flops);
  out = out.view(with_tail(batch, L, Ev));

  if (any_requires_grad({&q, &k, &v, &attn_mask})) {
    SavedTensor sq(qc), sk(kc), sv(vc), slse(lse), smask(mask), sout(out_flat.detach());
    Shape q_shape = q.shape(), k_shape = k.shape(), v_shape = v.shape();
    Shape mask_shape = attn_mask.defined() ? attn_mask.shape() : Shape{};
    bool need_mask = attn_mask.defined() && attn_mask.requires_grad();
    record(kOp, out, {q, k, v, attn_mask},
           [=](const Tensor& g) -> std::vector<Tensor> {
             const Tensor& qs = sq.unpack(kOp);
             TensorOptions o{.dtype = qs.dtype(), .device = qs.device()};
             Tensor dq = empty({B, L, E}, o), dk = empty({B, S, E}, o), dv = empty({B, S, Ev}, o);
             Tensor dmask = need_mask ? empty({B, L, S}, o) : Tensor();
             Tensor go = g.contiguous().view({B, L, Ev});
             attention_backward_stub[qs.device()](dq, dk, dv, dmask, go, sout.unpack(kOp), qs, sk.unpack(kOp), sv.unpack(kOp),
                                                  smask.unpack(kOp), slse.unpack(kOp), p);
             TSR_PROFILE_FLOPS(2 * attention_flops);
             return {sum_to(dq.view(with_tail(batch, L, E)), q_shape), sum_to(dk.view(with_tail(batch, S, E)), k_shape),
                     sum_to(dv.view(with_tail(batch, S, Ev)), v_shape),
                     need_mask ? sum_to(dmask.view(with_tail(batch, L, S)), mask_shape) : Tensor()};
           });
  }
  return out;
}

}  // namespace tessera
