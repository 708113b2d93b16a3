// layer_norm and rms_norm over the trailing `normalized_shape` dims, forward
// and fused backward side by side. The input is seen as (rows, cols) with
// cols = prod(normalized_shape); kernels in src/backends/cpu/norm.cpp.
#include <algorithm>

#include "kernels/norm.h"
#include "tessera/autograd/node.h"
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

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  TSR_PROFILE_OP("layer_norm", x, weight, bias);
  const RowsCols rc = check_args("layer_norm", x, normalized_shape, weight, bias);
  Tensor xc = x.detach().contiguous(), wc = prepared(weight), bc = prepared(bias);
  const TensorOptions opts{.dtype = x.dtype(), .device = x.device()};
  Tensor y = empty(x.shape(), opts);
  // Statistics stay in float64 so the backward recomputes x_hat to full float32 precision.
  const TensorOptions stat_opts{.dtype = DType::F64, .device = x.device()};
  Tensor mean = empty({rc.rows}, stat_opts), rstd = empty({rc.rows}, stat_opts);  // (rows)
  if (y.numel() > 0) layer_norm_stub[x.device()](y, mean, rstd, xc, wc, bc, rc.rows, rc.cols, eps);
  std::vector<Tensor> inputs = graph_inputs(x, weight, bias);
  if (any_requires_grad(inputs)) {
    const bool has_w = weight.defined(), has_b = bias.defined();
    const bool need_gw = wants_grad(weight), need_gb = wants_grad(bias);
    record("layer_norm", y, inputs,
           [sx = SavedTensor(xc), sw = has_w ? SavedTensor(wc) : SavedTensor(), mean, rstd, has_w, has_b, need_gw,
            need_gb, rc, ns = normalized_shape](const Tensor& g) -> std::vector<Tensor> {
             const Tensor& xs = sx.unpack("layer_norm");
             Tensor ws = has_w ? sw.unpack("layer_norm") : Tensor();
             Tensor gx = empty(xs.shape(), {.dtype = xs.dtype(), .device = xs.device()});
             // Zero-initialized so an empty batch yields zero parameter gradients.
             Tensor gw = zeros_if(need_gw, ns, xs), gb = zeros_if(need_gb, ns, xs);
             if (xs.numel() > 0)
               layer_norm_backward_stub[xs.device()](gx, gw, gb, g.contiguous(), xs, mean, rstd, ws, rc.rows, rc.cols);
             std::vector<Tensor> grads{gx};
             if (has_w) grads.push_back(gw);
             if (has_b) grads.push_back(gb);
             return grads;
           });
  }
  return y;
}

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, double eps) {
  TSR_PROFILE_OP("rms_norm", x, weight);
  const RowsCols rc = check_args("rms_norm", x, normalized_shape, weight, Tensor());
  Tensor xc = x.detach().contiguous(), wc = prepared(weight);
  const TensorOptions opts{.dtype = x.dtype(), .device = x.device()};
  Tensor y = empty(x.shape(), opts);
  Tensor rstd = empty({rc.rows}, {.dtype = DType::F64, .device = x.device()});  // (rows)
  if (y.numel() > 0) rms_norm_stub[x.device()](y, rstd, xc, wc, rc.rows, rc.cols, eps);
  std::vector<Tensor> inputs = graph_inputs(x, weight, Tensor());
  if (any_requires_grad(inputs)) {
    const bool has_w = weight.defined(), need_gw = wants_grad(weight);
    record("rms_norm", y, inputs,
           [sx = SavedTensor(xc), sw = has_w ? SavedTensor(wc) : SavedTensor(), rstd, has_w, need_gw, rc,
            ns = normalized_shape](const Tensor& g) -> std::vector<Tensor> {
             const Tensor& xs = sx.unpack("rms_norm");
             Tensor ws = has_w ? sw.unpack("rms_norm") : Tensor();
             Tensor gx = empty(xs.shape(), {.dtype = xs.dtype(), .device = xs.device()});
             Tensor gw = zeros_if(need_gw, ns, xs);
             if (xs.numel() > 0)
               rms_norm_backward_stub[xs.device()](gx, gw, g.contiguous(), xs, rstd, ws, rc.rows, rc.cols);
             std::vector<Tensor> grads{gx};
             if (has_w) grads.push_back(gw);
             return grads;
           });
  }
  return y;
}

}  // namespace tessera
