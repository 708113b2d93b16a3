// Matrix products: matmul (torch.matmul semantics), mm, bmm and linear, with
// their backward passes. Strided operands whose last two dims BLAS can read
// (row-major or transposed) go to the kernel without a copy; broadcast batch
// dims are expanded (stride 0), never materialized.
#include "tessera/ops/linalg.h"
#include "tessera/core/profiler.h"

#include "kernels/linalg.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  TSR_CHECK(a.defined() && b.defined(), Error, op, ": got an undefined tensor");
  TSR_CHECK(a.device() == b.device(), DeviceError, op, ": tensors on different devices (", a.device().str(), " and ",
            b.device().str(), ")");
  TSR_CHECK(a.dtype() == DType::F32 || a.dtype() == DType::F64, DTypeError, op,
            ": expected float32 or float64 tensors, got ", dtype_name(a.dtype()));
  TSR_CHECK(a.dtype() == b.dtype(), DTypeError, op, ": dtypes differ (", dtype_name(a.dtype()), " and ",
            dtype_name(b.dtype()), "); convert one with .to()");
}

// `t` itself when BLAS can read its last two dims, else a contiguous copy.
Tensor blas_ready(const Tensor& t) {
  if (t.numel() == 0 || blas_layout(t).ok) return t;
  return t.contiguous();
}

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// Number of rows when all dims but the last are flattened (no -1: the last dim may be 0).
int64_t rows_of(const Tensor& t) { return shape_numel(Shape(t.shape().begin(), t.shape().end() - 1)); }

// a (A..., M, K) @ b (B..., K, N) -> (broadcast(A, B)..., M, N), written into
// `out` when given (it must have that shape and be contiguous). No autograd.
Tensor matmul_nd(const char* op, const Tensor& a0, const Tensor& b0, Tensor out = Tensor(), double beta = 0) {
  NoGradGuard no_grad;  // internal views and copies need no history
  const int64_t M = a0.size(-2), K = a0.size(-1), N = b0.size(-1);
  Shape batch = broadcast_shapes(batch_of(a0), batch_of(b0), op);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  if (!out.defined()) out = empty(out_shape, {.dtype = a0.dtype(), .device = a0.device()});
  if (out.numel() == 0) return out;
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  Tensor a = blas_ready(a0).expand(sa), b = blas_ready(b0).expand(sb);
  matmul_stub[out.device()](out, a, b, beta);
  // Every GEMM, forward or backward, passes here: its FLOPs go to the op or backward node around it.
  TSR_PROFILE_FLOPS(2.0 * static_cast<double>(out.numel()) * static_cast<double>(K));
  return out;
}

Tensor mT(const Tensor& t) { return t.transpose(-1, -2); }

// Gradients of a @ b for `a` and `b` (>= 2-D, after promoting 1-D operands),
// given g of the product's shape; undefined where not needed.
std::vector<Tensor> matmul_grads(const char* op, const Tensor& a, const Tensor& b, const Tensor& g, bool need_a,
                                 bool need_b) {
  Tensor ga, gb;
  const int64_t K = a.size(-1), N = b.size(-1);
  if (need_a) {
    // A shared (2-D) `a` against a batched `b` sums over the batch in sum_to.
    ga = sum_to(matmul_nd(op, g, mT(b)), a.shape());
  }
  if (need_b) {
    if (b.dim() == 2 && a.dim() > 2) {
      // b was shared by every batch entry: one GEMM over all rows instead of
      // a batch of products summed afterwards.
      Tensor a_rows = a.reshape({rows_of(a), K}), g_rows = g.reshape({rows_of(g), N});
      gb = matmul_nd(op, mT(a_rows), g_rows);
    } else {
      gb = sum_to(matmul_nd(op, mT(a), g), b.shape());
    }
  }
  return {ga, gb};
}

// mm, bmm and matmul differ in their checks; the product and backward are shared.
Tensor product(const char* op, const Tensor& a, const Tensor& b) {
  // torch.matmul's promotion: a 1-D left operand is a row, a 1-D right one a column; both are dropped after.
  Tensor a2, b2;
  {
    NoGradGuard no_grad;  // the history is recorded on `out` below, against a and b
    a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
    b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  }
  TSR_CHECK(a2.size(-1) == b2.size(-2), ShapeError, op, ": shapes ", shape_str(a.shape()), " and ",
            shape_str(b.shape()), " cannot be multiplied (", a2.size(-1), " != ", b2.size(-2), ")");
  Shape out_shape;
  try {
    out_shape = broadcast_shapes(batch_of(a2), batch_of(b2), op);
  } catch (const ShapeError&) {
    throw ShapeError(detail::concat(op, ": batch dims of shapes ", shape_str(a.shape()), " and ",
                                    shape_str(b.shape()), " cannot be broadcast together"));
  }
  Shape full = out_shape;
  full.insert(full.end(), {a2.size(-2), b2.size(-1)});
  if (a.dim() > 1) out_shape.push_back(a2.size(-2));
  if (b.dim() > 1) out_shape.push_back(b2.size(-1));
  Tensor out = empty(out_shape, {.dtype = a.dtype(), .device = a.device()});
  matmul_nd(op, a2, b2, out.view(full));

  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  record(op, out, {a, b},
         [op, sa = SavedTensor(a), sb = SavedTensor(b), full, need_a, need_b](const Tensor& g) -> std::vector<Tensor> {
           const Tensor& a = sa.unpack(op);
           const Tensor& b = sb.unpack(op);
           Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
           Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
           std::vector<Tensor> gr = matmul_grads(op, a2, b2, g.reshape(full), need_a, need_b);
           if (gr[0].defined()) gr[0] = gr[0].reshape(a.shape());
           if (gr[1].defined()) gr[1] = gr[1].reshape(b.shape());
           return gr;
         });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP("matmul", a, b);
  check_pair("matmul", a, b);
  TSR_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError, "matmul: both operands need at least 1 dim, got shapes ",
            shape_str(a.shape()), " and ", shape_str(b.shape()));
  return product("matmul", a, b);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP("mm", a, b);
  check_pair("mm", a, b);
  TSR_CHECK(a.dim() == 2 && b.dim() == 2, ShapeError, "mm: expected 2-D tensors, got shapes ", shape_str(a.shape()),
            " and ", shape_str(b.shape()));
  return product("mm", a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP("bmm", a, b);
  check_pair("bmm", a, b);
  TSR_CHECK(a.dim() == 3 && b.dim() == 3, ShapeError, "bmm: expected 3-D tensors, got shapes ", shape_str(a.shape()),
            " and ", shape_str(b.shape()));
  TSR_CHECK(a.size(0) == b.size(0), ShapeError, "bmm: batch sizes differ in shapes ", shape_str(a.shape()), " and ",
            shape_str(b.shape()), " (bmm does not broadcast; use matmul)");
  return product("bmm", a, b);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TSR_PROFILE_OP("linear", x, weight, bias);
  check_pair("linear", x, weight);
  TSR_CHECK(weight.dim() == 2, ShapeError, "linear: weight must be 2-D (out_features, in_features), got shape ",
            shape_str(weight.shape()));
  TSR_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), ShapeError, "linear: input shape ", shape_str(x.shape()),
            " does not end in in_features = ", weight.size(1), " (weight shape ", shape_str(weight.shape()), ")");
  const int64_t in_f = weight.size(1), out_f = weight.size(0), R = rows_of(x);
  if (bias.defined()) {
    check_pair("linear", x, bias);
    TSR_CHECK(bias.dim() == 1 && bias.size(0) == out_f, ShapeError, "linear: bias must have shape [", out_f,
              "] for weight shape ", shape_str(weight.shape()), ", got ", shape_str(bias.shape()));
  }
  Shape out_shape = x.shape();
  out_shape.back() = out_f;
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  {
    NoGradGuard no_grad;
    Tensor rows = out.view({R, out_f});  // (R, out)
    if (bias.defined()) rows.copy_(bias);  // GEMM accumulates onto the bias (beta = 1)
    matmul_nd("linear", x.reshape({R, in_f}), mT(weight), rows, bias.defined() ? 1.0 : 0.0);
  }

  const bool need_x = x.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  record("linear", out, {x, weight, bias},
         [sx = SavedTensor(x), sw = SavedTensor(weight), need_x, need_w, need_b, in_f, out_f,
          R](const Tensor& g) -> std::vector<Tensor> {
           const Tensor& x = sx.unpack("linear");
           const Tensor& w = sw.unpack("linear");
           Tensor g_rows = g.reshape({R, out_f});  // (R, out)
           Tensor gx, gw, gb;
           if (need_x) gx = matmul_nd("linear", g_rows, w).view(x.shape());
           if (need_w) gw = matmul_nd("linear", mT(g_rows), x.reshape({R, in_f}));
           if (need_b) gb = sum(g_rows, {0});
           return {gx, gw, gb};
         });
  return out;
}

}  // namespace tessera
