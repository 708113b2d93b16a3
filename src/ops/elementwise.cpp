// Elementwise arithmetic and math: forward through the dispatch stubs,
// backward beside each op. Dtypes promote as in PyTorch for the common cases
// (int with float -> float, float32 with float64 -> float64).
#include "tessera/ops/elementwise.h"
#include "tessera/core/profiler.h"

#include <cmath>
#include <limits>

#include "kernels/elementwise.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/reduce.h"

namespace tessera {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TSR_CHECK(da == db || da == 1 || db == 1, ShapeError, op, ": shapes ", shape_str(a), " and ", shape_str(b),
              " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

DType result_type(const Tensor& a, const Tensor& b) {
  DType x = a.dtype(), y = b.dtype();
  if (x == y) return x == DType::Bool ? DType::I64 : x;
  if (x == DType::BF16 || y == DType::BF16)
    throw DTypeError(detail::concat("bfloat16 arithmetic is not supported yet (", dtype_name(x), " with ",
                                    dtype_name(y), "); convert with .to(DType::F32)"));
  bool fx = is_floating(x), fy = is_floating(y);
  if (fx && fy) return DType::F64;
  if (fx) return x;
  if (fy) return y;
  return DType::I64;
}

void check_device(const Tensor& a, const Tensor& b, const char* op) {
  TSR_CHECK(a.device() == b.device(), DeviceError, op, ": tensors on different devices (", a.device().str(), " and ",
            b.device().str(), ")");
}

Tensor binary(BinaryOp kind, const char* op, const Tensor& a0, const Tensor& b0, double alpha = 1.0) {
  check_device(a0, b0, op);
  DType dt = result_type(a0, b0);
  Tensor a = a0.to(dt), b = b0.to(dt);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape(), op), {.dtype = dt, .device = a.device()});
  binary_stub[a.device()](kind, out, a, b, alpha);
  return out;
}

Tensor unary(UnaryOp kind, const Tensor& a, double p0 = 0, double p1 = 0) {
  Tensor out = empty(a.shape(), {.dtype = a.dtype(), .device = a.device()});
  unary_stub[a.device()](kind, out, a, p0, p1);
  return out;
}

Tensor float_input(const Tensor& a) { return is_floating(a.dtype()) ? a : a.to(DType::F32); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  TSR_PROFILE_OP("add", a, b);
  Tensor out = binary(BinaryOp::Add, "add", a, b, alpha);
  Shape sa = a.shape(), sb = b.shape();
  record("add", out, {a, b}, [sa, sb, alpha](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, sa), alpha == 1.0 ? sum_to(g, sb) : sum_to(mul(g, alpha), sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  TSR_PROFILE_OP("sub", a, b);
  Tensor out = binary(BinaryOp::Sub, "sub", a, b, alpha);
  Shape sa = a.shape(), sb = b.shape();
  record("sub", out, {a, b}, [sa, sb, alpha](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, sa), sum_to(mul(g, -alpha), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP("mul", a, b);
  Tensor out = binary(BinaryOp::Mul, "mul", a, b);
  SavedTensor sa(a.requires_grad() || b.requires_grad() ? a : Tensor());
  SavedTensor sb(a.requires_grad() || b.requires_grad() ? b : Tensor());
  bool ga = a.requires_grad(), gb = b.requires_grad();
  record("mul", out, {a, b}, [sa, sb, ga, gb](const Tensor& g) -> std::vector<Tensor> {
    const Tensor& x = sa.unpack("mul");
    const Tensor& y = sb.unpack("mul");
    return {ga ? sum_to(mul(g, y), x.shape()) : Tensor(), gb ? sum_to(mul(g, x), y.shape()) : Tensor()};
  });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP("div", a, b);
  // True division: integers divide as floats, as torch.div.
  Tensor fa = is_floating(a.dtype()) || is_floating(b.dtype()) ? a : a.to(DType::F32);
  Tensor out = binary(BinaryOp::Div, "div", fa, b);
  SavedTensor sa(a), sb(b);
  bool ga = a.requires_grad(), gb = b.requires_grad();
  record("div", out, {a, b}, [sa, sb, ga, gb](const Tensor& g) -> std::vector<Tensor> {
    const Tensor& x = sa.unpack("div");
    const Tensor& y = sb.unpack("div");
    Tensor gx = div(g, y);
    Tensor gy = gb ? sum_to(neg(mul(gx, div(x, y))), y.shape()) : Tensor();
    return {ga ? sum_to(gx, x.shape()) : Tensor(), gy};
  });
  return out;
}

Tensor add(const Tensor& a, double b) {
  TSR_PROFILE_OP("add_scalar", a);
  Tensor out = unary(UnaryOp::AddScalar, a, b);
  record("add_scalar", out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
  return out;
}

Tensor mul(const Tensor& a, double b) {
  TSR_PROFILE_OP("mul_scalar", a);
  Tensor out = unary(UnaryOp::MulScalar, a, b);
  record("mul_scalar", out, {a}, [b](const Tensor& g) -> std::vector<Tensor> { return {mul(g, b)}; });
  return out;
}

Tensor pow(const Tensor& a0, double e) {
  TSR_PROFILE_OP("pow", a0);
  Tensor a = float_input(a0);
  Tensor out = unary(UnaryOp::PowScalar, a, e);
  SavedTensor sa(a);
  record("pow", out, {a}, [sa, e](const Tensor& g) -> std::vector<Tensor> {
    const Tensor& x = sa.unpack("pow");
    if (e == 0.0) return {zeros_like(x)};
    if (e == 2.0) return {mul(g, mul(x, 2.0))};
    return {mul(g, mul(pow(x, e - 1.0), e))};
  });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& e) {
  TSR_PROFILE_OP("pow", a, e);
  Tensor out = binary(BinaryOp::Pow, "pow", a, e);
  SavedTensor sa(a), se(e), so(out);
  bool ga = a.requires_grad(), ge_ = e.requires_grad();
  record("pow", out, {a, e}, [sa, se, so, ga, ge_](const Tensor& g) -> std::vector<Tensor> {
    const Tensor& x = sa.unpack("pow");
    const Tensor& y = se.unpack("pow");
    Tensor gx, gy;
    if (ga) gx = sum_to(mul(g, mul(y, pow(x, sub(y, ones_like(y))))), x.shape());
    if (ge_) {
      // d/dy x^y = x^y log x; where x == 0 torch gives 0, not NaN: take log(1) there.
      Tensor is_zero = eq(x, zeros({}, {.dtype = x.dtype(), .device = x.device()})).to(x.dtype());
      gy = sum_to(mul(g, mul(so.unpack("pow"), log(add(x, is_zero)))), y.shape());
    }
    return {gx, gy};
  });
  return out;
}

Tensor neg(const Tensor& a) {
  TSR_PROFILE_OP("neg", a);
  Tensor out = unary(UnaryOp::Neg, a);
  record("neg", out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
  return out;
}

Tensor exp(const Tensor& a0) {
  TSR_PROFILE_OP("exp", a0);
  Tensor a = float_input(a0);
  Tensor out = unary(UnaryOp::Exp, a);
  SavedTensor so(out);
  record("exp", out, {a}, [so](const Tensor& g) -> std::vector<Tensor> { return {mul(g, so.unpack("exp"))}; });
  return out;
}

Tensor log(const Tensor& a0) {
  TSR_PROFILE_OP("log", a0);
  Tensor a = float_input(a0);
  Tensor out = unary(UnaryOp::Log, a);
  SavedTensor sa(a);
  record("log", out, {a}, [sa](const Tensor& g) -> std::vector<Tensor> { return {div(g, sa.unpack("log"))}; });
  return out;
}

Tensor sqrt(const Tensor& a0) {
  TSR_PROFILE_OP("sqrt", a0);
  Tensor a = float_input(a0);
  Tensor out = unary(UnaryOp::Sqrt, a);
  SavedTensor so(out);
  record("sqrt", out, {a}, [so](const Tensor& g) -> std::vector<Tensor> {
    return {div(g, mul(so.unpack("sqrt"), 2.0))};
  });
  return out;
}

Tensor rsqrt(const Tensor& a0) {
  TSR_PROFILE_OP("rsqrt", a0);
  Tensor a = float_input(a0);
  Tensor out = unary(UnaryOp::Rsqrt, a);
  SavedTensor so(out);
  record("rsqrt", out, {a}, [so](const Tensor& g) -> std::vector<Tensor> {
    const Tensor& y = so.unpack("rsqrt");
    return {mul(g, mul(pow(y, 3.0), -0.5))};
  });
  return out;
}

Tensor abs(const Tensor& a) {
  TSR_PROFILE_OP("abs", a);
  Tensor out = unary(UnaryOp::Abs, a);
  SavedTensor sa(a);
  record("abs", out, {a}, [sa](const Tensor& g) -> std::vector<Tensor> {
    return {mul(g, unary(UnaryOp::Sign, sa.unpack("abs")))};
  });
  return out;
}

Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  TSR_PROFILE_OP("clamp", a);
  TSR_CHECK(lo || hi, Error, "clamp: at least one of min and max must be given");
  double l = lo.value_or(-std::numeric_limits<double>::infinity());
  double h = hi.value_or(std::numeric_limits<double>::infinity());
  Tensor out = unary(UnaryOp::Clamp, a, l, h);
  SavedTensor sa(a);
  record("clamp", out, {a}, [sa, l, h](const Tensor& g) -> std::vector<Tensor> {
    // Gradient passes where min <= x <= max (torch's convention at the bounds).
    const Tensor& x = sa.unpack("clamp");
    Tensor inside = logical_not(binary(BinaryOp::Maximum, "clamp", lt(x, l).to(DType::I64),
                                       gt(x, h).to(DType::I64)).to(DType::Bool));
    return {mul(g, inside.to(g.dtype()))};
  });
  return out;
}

static Tensor extremum(BinaryOp kind, const char* op, const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP(op, a, b);
  Tensor out = binary(kind, op, a, b);
  SavedTensor sa(a), sb(b);
  bool ga = a.requires_grad(), gb = b.requires_grad();
  record(op, out, {a, b}, [sa, sb, ga, gb, kind, op](const Tensor& g) -> std::vector<Tensor> {
    const Tensor& x = sa.unpack(op);
    const Tensor& y = sb.unpack(op);
    // Winner takes the gradient; ties split it in half (as torch.maximum).
    Tensor xw = (kind == BinaryOp::Maximum ? gt(x, y) : lt(x, y)).to(g.dtype());
    Tensor tie = eq(x, y).to(g.dtype());
    Tensor wx = add(xw, mul(tie, 0.5));
    Tensor wy = sub(ones_like(wx), wx);
    return {ga ? sum_to(mul(g, wx), x.shape()) : Tensor(), gb ? sum_to(mul(g, wy), y.shape()) : Tensor()};
  });
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::Maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::Minimum, "minimum", a, b); }

static Tensor compare(CompareOp kind, const char* op, const Tensor& a0, const Tensor& b0) {
  TSR_PROFILE_OP(op, a0, b0);
  check_device(a0, b0, op);
  DType dt = a0.dtype() == b0.dtype() ? a0.dtype() : result_type(a0, b0);
  Tensor a = a0.to(dt), b = b0.to(dt);
  Tensor out = empty(broadcast_shapes(a.shape(), b.shape(), op), {.dtype = DType::Bool, .device = a.device()});
  compare_stub[a.device()](kind, out, a, b);
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(CompareOp::Eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(CompareOp::Ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(CompareOp::Lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(CompareOp::Le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(CompareOp::Gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(CompareOp::Ge, "ge", a, b); }
Tensor gt(const Tensor& a, double b) { return gt(a, full({}, b, {.dtype = a.dtype(), .device = a.device()})); }
Tensor lt(const Tensor& a, double b) { return lt(a, full({}, b, {.dtype = a.dtype(), .device = a.device()})); }
Tensor logical_not(const Tensor& a) {
  return eq(a.to(DType::Bool), zeros({}, {.dtype = DType::Bool, .device = a.device()}));
}

}  // namespace tessera
