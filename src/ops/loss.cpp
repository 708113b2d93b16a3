// Loss functions, forward and backward side by side. cross_entropy is fused
// with log_softmax (backward keeps only the logits and one log-sum-exp per
// row); nll_loss and binary_cross_entropy_with_logits have their own kernels;
// mse_loss and l1_loss are compositions of elementwise ops. Formulas follow
// torch 1.13, including label smoothing with class weights and the weighted
// "mean" (divided by the sum of the target classes' weights).
#include "tessera/ops/loss.h"
#include "tessera/core/profiler.h"

#include "kernels/indexing.h"
#include "kernels/loss.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(const std::string& r, const char* op) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw Error(detail::concat(op, ": reduction must be \"mean\", \"sum\" or \"none\", got \"", r, "\""));
}

void check_float(const Tensor& t, const char* op, const char* what) {
  TSR_CHECK(t.defined(), Error, op, ": ", what, " is undefined");
  TSR_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, DTypeError, op, ": ", what,
            " must be float32 or float64, got ", dtype_name(t.dtype()));
}

// A class-index loss, validated: x as (N, C, inner), target flat (rows).
struct ClassProblem {
  ClassLossShape s;
  Shape out_shape;  // the "none" output: target's shape
  Tensor x;         // contiguous
  Tensor target;    // contiguous int64 (rows)
  Tensor weight;    // contiguous (C) or undefined
};

ClassProblem class_problem(const Tensor& x, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                           const char* op) {
  check_float(x, op, "input");
  TSR_CHECK(target.defined(), Error, op, ": target is undefined");
  TSR_CHECK(is_integral(target.dtype()), DTypeError, op, ": target must hold int64 class indices, got ",
            dtype_name(target.dtype()), " (probability targets are not supported)");
  ClassProblem p;
  Shape expected;
  if (x.dim() == 1) {  // unbatched: (C) with a 0-d target
    p.s = {1, x.size(0), 1};
  } else {
    TSR_CHECK(x.dim() >= 2, ShapeError, op, ": input must be (C), (N, C) or (N, C, d1, ...), got shape ",
              shape_str(x.shape()));
    int64_t inner = 1;
    for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
    p.s = {x.size(0), x.size(1), inner};
    expected = x.shape();
    expected.erase(expected.begin() + 1);
  }
  TSR_CHECK(target.shape() == expected, ShapeError, op, ": target shape ", shape_str(target.shape()),
            " does not match input shape ", shape_str(x.shape()), " (expected target shape ", shape_str(expected),
            ")");
  if (weight.defined()) {
    TSR_CHECK(weight.dtype() == x.dtype(), DTypeError, op, ": weight has dtype ", dtype_name(weight.dtype()),
              " but input has ", dtype_name(x.dtype()));
    TSR_CHECK(weight.dim() == 1 && weight.size(0) == p.s.C, ShapeError, op, ": weight must have shape [", p.s.C,
              "] (one per class), got ", shape_str(weight.shape()));
    p.weight = weight.detach().contiguous();
  }
  p.out_shape = expected;
  p.x = x.detach().contiguous();
  p.target = target.to(DType::I64).contiguous().reshape({p.s.rows()});
  const IndexRangeViolation bad = index_range_stub[p.target.device()](p.target, p.s.C, ignore_index);
  if (bad.position >= 0)
    throw IndexError(detail::concat(op, ": target ", bad.value, " (at flat position ", bad.position,
                                    " of target shape ", shape_str(target.shape()), ") is out of range for ", p.s.C,
                                    " classes (valid range [0, ", p.s.C, "), or ignore_index ", ignore_index, ")"));
  return p;
}

// The reduced output of a row-loss kernel, and the upstream-gradient scale.
Tensor reduce_rows(const Tensor& rows, const Shape& out_shape, Reduction red, double total, double weight_sum,
                   double& g_scale) {
  g_scale = 1.0;
  switch (red) {
    case Reduction::None: return rows.view(out_shape);
    case Reduction::Sum: return scalar_tensor(total, {.dtype = rows.dtype(), .device = rows.device()});
    case Reduction::Mean: break;
  }
  g_scale = 1.0 / weight_sum;  // all rows ignored: 0/0 = NaN loss, as torch
  return scalar_tensor(total / weight_sum, {.dtype = rows.dtype(), .device = rows.device()});
}

Tensor apply_reduction(const Tensor& t, Reduction red) {
  switch (red) {
    case Reduction::None: return t;
    case Reduction::Sum: return sum(t);
    case Reduction::Mean: break;
  }
  return mul(sum(t), 1.0 / static_cast<double>(t.numel()));  // empty: 0 * inf = NaN, as torch
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     double label_smoothing, const std::string& reduction) {
  TSR_PROFILE_OP("cross_entropy", logits, target);
  Reduction red = parse_reduction(reduction, "cross_entropy");
  TSR_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, Error,
            "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);
  ClassProblem p = class_problem(logits, target, weight, ignore_index, "cross_entropy");
  ClassLossOptions o{ignore_index, label_smoothing};
  TensorOptions to{.dtype = logits.dtype(), .device = logits.device()};
  Tensor loss = empty({p.s.rows()}, to);  // (rows)
  Tensor lse = empty({p.s.rows()}, to);   // (rows) all backward needs besides the logits
  double weight_sum = 0.0;
  double total = cross_entropy_stub[logits.device()](loss, lse, p.x, p.target, p.weight, p.s, o, weight_sum);
  double g_scale = 1.0;
  Tensor out = reduce_rows(loss, p.out_shape, red, total, weight_sum, g_scale);
  if (any_requires_grad({&logits})) {
    SavedTensor sx(p.x), slse(lse), st(p.target), sw(p.weight);
    Shape x_shape = logits.shape();
    bool per_row = red == Reduction::None;
    ClassLossShape s = p.s;
    // The class weight is a constant here, as in torch (no gradient for it).
    record("cross_entropy", out, {logits},
           [sx, slse, st, sw, x_shape, per_row, g_scale, s, o](const Tensor& g) -> std::vector<Tensor> {
             const Tensor& x = sx.unpack("cross_entropy");
             Tensor gx = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});  // (N, C, inner)
             cross_entropy_backward_stub[x.device()](gx, x, slse.unpack("cross_entropy"), st.unpack("cross_entropy"),
                                                     sw.unpack("cross_entropy"), g.contiguous(), per_row, g_scale, s,
                                                     o);
             return {gx.view(x_shape)};
           });
  }
  return out;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                const std::string& reduction) {
  TSR_PROFILE_OP("nll_loss", log_probs, target);
  Reduction red = parse_reduction(reduction, "nll_loss");
  ClassProblem p = class_problem(log_probs, target, weight, ignore_index, "nll_loss");
  ClassLossOptions o{ignore_index, 0.0};
  Tensor loss = empty({p.s.rows()}, {.dtype = log_probs.dtype(), .device = log_probs.device()});  // (rows)
  double weight_sum = 0.0;
  double total = nll_loss_stub[log_probs.device()](loss, p.x, p.target, p.weight, p.s, o, weight_sum);
  double g_scale = 1.0;
  Tensor out = reduce_rows(loss, p.out_shape, red, total, weight_sum, g_scale);
  if (any_requires_grad({&log_probs})) {
    SavedTensor st(p.target), sw(p.weight);
    Shape x_shape = log_probs.shape();
    DType dt = log_probs.dtype();
    bool per_row = red == Reduction::None;
    ClassLossShape s = p.s;
    record("nll_loss", out, {log_probs},
           [st, sw, x_shape, dt, per_row, g_scale, s, o](const Tensor& g) -> std::vector<Tensor> {
             Tensor gx = zeros(x_shape, {.dtype = dt, .device = g.device()});
             nll_loss_backward_stub[g.device()](gx, st.unpack("nll_loss"), sw.unpack("nll_loss"), g.contiguous(),
                                                per_row, g_scale, s, o);
             return {gx};
           });
  }
  return out;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  TSR_PROFILE_OP("mse_loss", input, target);
  Reduction red = parse_reduction(reduction, "mse_loss");
  check_float(input, "mse_loss", "input");
  check_float(target, "mse_loss", "target");
  Tensor d = sub(input, target);
  return apply_reduction(mul(d, d), red);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  TSR_PROFILE_OP("l1_loss", input, target);
  Reduction red = parse_reduction(reduction, "l1_loss");
  check_float(input, "l1_loss", "input");
  check_float(target, "l1_loss", "target");
  return apply_reduction(abs(sub(input, target)), red);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const Tensor& pos_weight, const std::string& reduction) {
  TSR_PROFILE_OP("binary_cross_entropy_with_logits", input, target);
  const char* op = "binary_cross_entropy_with_logits";
  Reduction red = parse_reduction(reduction, op);
  check_float(input, op, "input");
  check_float(target, op, "target");
  TSR_CHECK(target.dtype() == input.dtype(), DTypeError, op, ": target has dtype ", dtype_name(target.dtype()),
            " but input has ", dtype_name(input.dtype()));
  TSR_CHECK(target.shape() == input.shape(), ShapeError, op, ": target shape ", shape_str(target.shape()),
            " must be the same as input shape ", shape_str(input.shape()));
  const Shape& shape = input.shape();
  // weight and pos_weight broadcast to the input's shape (pos_weight is
  // typically (C), one per class along the last dim).
  auto broadcast_operand = [&](const Tensor& w, const char* what) -> Tensor {
    if (!w.defined()) return Tensor();
    check_float(w, op, what);
    TSR_CHECK(w.dtype() == input.dtype(), DTypeError, op, ": ", what, " has dtype ", dtype_name(w.dtype()),
              " but input has ", dtype_name(input.dtype()));
    TSR_CHECK(broadcast_shapes(w.shape(), shape, op) == shape, ShapeError, op, ": ", what, " shape ",
              shape_str(w.shape()), " does not broadcast to input shape ", shape_str(shape));
    return w.detach().expand(shape).contiguous();
  };
  Tensor w = broadcast_operand(weight, "weight");
  Tensor pw = broadcast_operand(pos_weight, "pos_weight");
  Tensor x = input.detach().contiguous(), t = target.detach().contiguous();
  Tensor loss = empty(shape, {.dtype = input.dtype(), .device = input.device()});
  const double total = bce_logits_stub[input.device()](loss, x, t, w, pw);
  const double n = static_cast<double>(loss.numel());
  const TensorOptions scalar_opts{.dtype = loss.dtype(), .device = loss.device()};
  Tensor out;
  switch (red) {
    case Reduction::None: out = loss; break;
    case Reduction::Sum: out = scalar_tensor(total, scalar_opts); break;
    case Reduction::Mean: out = scalar_tensor(total / n, scalar_opts); break;
  }
  if (any_requires_grad({&input, &target, &weight, &pos_weight})) {
    SavedTensor sx(x), st(t), sw(w), spw(pw);
    bool need_x = input.requires_grad(), need_t = target.requires_grad();
    bool need_w = weight.defined() && weight.requires_grad();
    bool need_pw = pos_weight.defined() && pos_weight.requires_grad();
    Shape w_shape = weight.defined() ? weight.shape() : Shape{};
    Shape pw_shape = pos_weight.defined() ? pos_weight.shape() : Shape{};
    bool per_elem = red == Reduction::None;
    double g_scale = red == Reduction::Mean ? 1.0 / n : 1.0;
    record(op, out, {input, target, weight, pos_weight},
           [=](const Tensor& g) -> std::vector<Tensor> {
             const Tensor& xs = sx.unpack(op);
             TensorOptions to{.dtype = xs.dtype(), .device = xs.device()};
             Tensor gx = need_x ? empty(xs.shape(), to) : Tensor();
             Tensor gt = need_t ? empty(xs.shape(), to) : Tensor();
             Tensor gw = need_w ? empty(xs.shape(), to) : Tensor();
             Tensor gpw = need_pw ? empty(xs.shape(), to) : Tensor();
             bce_logits_backward_stub[xs.device()](gx, gt, gw, gpw, xs, st.unpack(op), sw.unpack(op), spw.unpack(op),
                                                   g.contiguous(), per_elem, g_scale);
             return {gx, gt, need_w ? sum_to(gw, w_shape) : Tensor(), need_pw ? sum_to(gpw, pw_shape) : Tensor()};
           });
  }
  return out;
}

}  // namespace tessera
