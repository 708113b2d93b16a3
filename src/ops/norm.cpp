// layer_norm and rms_norm over the trailing `normalized_shape` dims, forward
// and fused backward side by side, and their residual-add forms
// (add_layer_norm, add_rms_norm: one kernel forms x + residual and normalizes
// it; one backward node returns the sum's and the norm's gradients together).
// The input is seen as (rows, cols) with cols = prod(normalized_shape);
// kernels in src/backends/cpu/norm.cpp.
#include <algorithm>

#include "kernels/norm.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/norm.h"
#include "tessera/core/profiler.h"

namespace tessera {

namespace {

struct RowsCols {
  int64_t rows, cols;
};

void check_param(const char* op, const char* name, const Tensor& p, const Tensor& x, const Shape& ns) {
  if (!p.defined()) return;
  TSR_CHECK(p.shape() == ns, ShapeError, op, ": ", name, " of shape ", shape_str(p.shape()),
            " does not match normalized_shape ", shape_str(ns));
  TSR_CHECK(p.dtype() == x.dtype(), DTypeError, op, ": ", name, " is ", dtype_name(p.dtype()), " but input is ",
            dtype_name(x.dtype()));
}

RowsCols check_args(const char* op, const Tensor& x, const Shape& ns, const Tensor& weight, const Tensor& bias) {
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, op,
            ": expected a float32 or float64 tensor, got ", dtype_name(x.dtype()));
  TSR_CHECK(!ns.empty(), ShapeError, op, ": normalized_shape must have at least one dim");
  const int64_t k = static_cast<int64_t>(ns.size());
  const bool trailing = x.dim() >= k && std::equal(ns.begin(), ns.end(), x.shape().end() - k);
  TSR_CHECK(trailing, ShapeError, op, ": normalized_shape ", shape_str(ns),
            " does not match the trailing dims of input of shape ", shape_str(x.shape()));
  check_param(op, "weight", weight, x, ns);
  check_param(op, "bias", bias, x, ns);
  RowsCols rc{1, shape_numel(ns)};
  for (int64_t d = 0; d < x.dim() - k; ++d) rc.rows *= x.size(d);
  return rc;
}

Tensor prepared(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }
bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// Inputs that take part in autograd: x, then weight and bias when given.
std::vector<Tensor> graph_inputs(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  std::vector<Tensor> in{x};
  if (weight.defined()) in.push_back(weight);
  if (bias.defined()) in.push_back(bias);
  return in;
}

// A zero-filled gradient buffer like `like` (dtype, device) of `shape`, when `cond`.
Tensor zeros_if(bool cond, const Shape& shape, const Tensor& like) {
  return cond ? zeros(shape, {.dtype = like.dtype(), .device = like.device()}) : Tensor();
}

// The fused add is taken when x and residual agree in shape, dtype and
// device; anything else (a broadcast residual) runs add() then the norm.
bool fusable(const Tensor& x, const Tensor& residual, const char* op) {
  TSR_CHECK(residual.defined(), Error, op, ": residual is undefined");
  return residual.shape() == x.shape() && residual.dtype() == x.dtype() && residual.device() == x.device();
}

// Gradient inputs of an add-norm op: x, residual, then weight and bias when given.
std::vector<Tensor> add_graph_inputs(const Tensor& x, const Tensor& residual, const Tensor& weight,
                                     const Tensor& bias) {
  std::vector<Tensor> in{x, residual};
  if (weight.defined()) in.push_back(weight);
  if (bias.defined()) in.push_back(bias);
  return in;
}

// Attaches a norm's backward: one output (y) when there is no residual, else
// one node for both outputs (sum, y). grads_of(g_sum, g_y) takes an undefined
// tensor for an output that received no gradient.
template <typename GradsOf>
AddNormResult record_norm(const char* op, Tensor sum, Tensor y, const std::vector<Tensor>& inputs,
                          GradsOf grads_of) {
  if (!sum.defined()) {
    record(op, y, inputs, [grads_of](const Tensor& g) { return grads_of(Tensor(), g); });
    return {Tensor(), y};
  }
  std::vector<Tensor> outputs{sum, y};
  record_multi(op, outputs, inputs, [grads_of](const std::vector<Tensor>& g) { return grads_of(g[0], g[1]); });
  return {outputs[0], outputs[1]};
}

// layer_norm of x, or of x + residual when residual is defined (then `sum`
// receives it): one forward, one autograd node.
AddNormResult layer_norm_impl(const char* op, const Tensor& x, const Tensor& residual, const Shape& normalized_shape,
                              const Tensor& weight, const Tensor& bias, double eps) {
  TSR_PROFILE_OP(op, x, residual, weight, bias);
  const RowsCols rc = check_args(op, x, normalized_shape, weight, bias);
  const bool fused = residual.defined();
  Tensor xc = x.detach().contiguous(), wc = prepared(weight), bc = prepared(bias);
  Tensor rc_t = fused ? residual.detach().contiguous() : Tensor();
  const TensorOptions opts{.dtype = x.dtype(), .device = x.device()};
  Tensor y = empty(x.shape(), opts);
  Tensor sum = fused ? empty(x.shape(), opts) : Tensor();
  // Statistics stay in float64 so the backward recomputes x_hat to full float32 precision.
  const TensorOptions stat_opts{.dtype = DType::F64, .device = x.device()};
  Tensor mean = empty({rc.rows}, stat_opts), rstd = empty({rc.rows}, stat_opts);  // (rows)
  if (y.numel() > 0) layer_norm_stub[x.device()](y, sum, mean, rstd, xc, rc_t, wc, bc, rc.rows, rc.cols, eps);
  // What backward differentiates through; detached so the node does not own its own output.
  const Tensor normalized = fused ? sum.detach() : xc;
  std::vector<Tensor> inputs = fused ? add_graph_inputs(x, residual, weight, bias) : graph_inputs(x, weight, bias);
  if (!any_requires_grad(inputs)) return {sum, y};
  const bool has_w = weight.defined(), has_b = bias.defined();
  const bool need_gw = wants_grad(weight), need_gb = wants_grad(bias);
  // g_sum: the gradient that reached the sum directly (undefined without fusion
  // or when only y was used); g_y: y's gradient (undefined when only sum was used).
  auto grads_of = [sx = SavedTensor(normalized), sw = has_w ? SavedTensor(wc) : SavedTensor(), mean, rstd, has_w,
                   has_b, need_gw, need_gb, fused, rc, ns = normalized_shape,
                   op](const Tensor& g_sum, const Tensor& g_y) -> std::vector<Tensor> {
    const Tensor& xs = sx.unpack(op);
    Tensor ws = has_w ? sw.unpack(op) : Tensor();
    // Zero-initialized so an empty batch yields zero parameter gradients; none
    // at all when the norm's output was not used (as add() then the norm).
    Tensor gw = zeros_if(need_gw && g_y.defined(), ns, xs), gb = zeros_if(need_gb && g_y.defined(), ns, xs);
    Tensor gx;
    if (!g_y.defined()) {
      gx = g_sum;  // only the residual stream flows back
    } else {
      gx = empty(xs.shape(), {.dtype = xs.dtype(), .device = xs.device()});
      if (xs.numel() > 0)
        layer_norm_backward_stub[xs.device()](gx, gw, gb, g_y.contiguous(),
                                              g_sum.defined() ? g_sum.contiguous() : Tensor(), xs, mean, rstd, ws,
                                              rc.rows, rc.cols);
    }
    std::vector<Tensor> grads{gx};
    if (fused) grads.push_back(gx);  // d(x + residual)/d residual = d/dx
    if (has_w) grads.push_back(gw);
    if (has_b) grads.push_back(gb);
    return grads;
  };
  return record_norm(op, sum, y, inputs, std::move(grads_of));
}

// rms_norm of x, or of x + residual, as layer_norm_impl.
AddNormResult rms_norm_impl(const char* op, const Tensor& x, const Tensor& residual, const Shape& normalized_shape,
                            const Tensor& weight, double eps) {
  TSR_PROFILE_OP(op, x, residual, weight);
  const RowsCols rc = check_args(op, x, normalized_shape, weight, Tensor());
  const bool fused = residual.defined();
  Tensor xc = x.detach().contiguous(), wc = prepared(weight);
  Tensor rc_t = fused ? residual.detach().contiguous() : Tensor();
  const TensorOptions opts{.dtype = x.dtype(), .device = x.device()};
  Tensor y = empty(x.shape(), opts);
  Tensor sum = fused ? empty(x.shape(), opts) : Tensor();
  Tensor rstd = empty({rc.rows}, {.dtype = DType::F64, .device = x.device()});  // (rows)
  if (y.numel() > 0) rms_norm_stub[x.device()](y, sum, rstd, xc, rc_t, wc, rc.rows, rc.cols, eps);
  const Tensor normalized = fused ? sum.detach() : xc;
  std::vector<Tensor> inputs = fused ? add_graph_inputs(x, residual, weight, Tensor()) : graph_inputs(x, weight, Tensor());
  if (!any_requires_grad(inputs)) return {sum, y};
  const bool has_w = weight.defined(), need_gw = wants_grad(weight);
  auto grads_of = [sx = SavedTensor(normalized), sw = has_w ? SavedTensor(wc) : SavedTensor(), rstd, has_w, need_gw,
                   fused, rc, ns = normalized_shape, op](const Tensor& g_sum, const Tensor& g_y) -> std::vector<Tensor> {
    const Tensor& xs = sx.unpack(op);
    Tensor ws = has_w ? sw.unpack(op) : Tensor();
    Tensor gw = zeros_if(need_gw && g_y.defined(), ns, xs);
    Tensor gx;
    if (!g_y.defined()) {
      gx = g_sum;
    } else {
      gx = empty(xs.shape(), {.dtype = xs.dtype(), .device = xs.device()});
      if (xs.numel() > 0)
        rms_norm_backward_stub[xs.device()](gx, gw, g_y.contiguous(), g_sum.defined() ? g_sum.contiguous() : Tensor(),
                                            xs, rstd, ws, rc.rows, rc.cols);
    }
    std::vector<Tensor> grads{gx};
    if (fused) grads.push_back(gx);
    if (has_w) grads.push_back(gw);
    return grads;
  };
  return record_norm(op, sum, y, inputs, std::move(grads_of));
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  return layer_norm_impl("layer_norm", x, Tensor(), normalized_shape, weight, bias, eps).y;
}

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps) {
  return rms_norm_impl("rms_norm", x, Tensor(), normalized_shape, weight, eps).y;
}

AddNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Shape& normalized_shape,
                             const Tensor& weight, const Tensor& bias, double eps) {
  if (!fusable(x, residual, "add_layer_norm")) {
    Tensor s = add(x, residual);
    return {s, layer_norm(s, normalized_shape, weight, bias, eps)};
  }
  return layer_norm_impl("add_layer_norm", x, residual, normalized_shape, weight, bias, eps);
}

AddNormResult add_rms_norm(const Tensor& x, const Tensor& residual, const Shape& normalized_shape,
                           const Tensor& weight, double eps) {
  if (!fusable(x, residual, "add_rms_norm")) {
    Tensor s = add(x, residual);
    return {s, rms_norm(s, normalized_shape, weight, eps)};
  }
  return rms_norm_impl("add_rms_norm", x, residual, normalized_shape, weight, eps);
}

}  // namespace tessera
