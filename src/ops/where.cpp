// where and masked_fill (a where with a scalar branch): elementwise selection
// with broadcasting. The gradient of each branch is the upstream gradient where
// that branch was taken, summed back to the branch's shape.
#include "kernels/where.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"
#include "tessera/core/profiler.h"
#include "tessera/ops/where.h"

namespace tessera {

namespace {

// cond ? a : b over the broadcast shape, with no history.
Tensor where_raw(const Tensor& cond, const Tensor& a, const Tensor& b, const Shape& shape) {
  Tensor out = empty(shape, {.dtype = a.dtype(), .device = a.device()});
  where_stub[out.device()](out, cond, a, b);
  return out;
}

// The gradient of one branch: g where that branch was taken, else 0.
Tensor branch_grad(const Tensor& cond, const Tensor& g, bool taken_when_true, const Shape& to) {
  Tensor zero = zeros({}, {.dtype = g.dtype(), .device = g.device()});
  Tensor picked = taken_when_true ? where_raw(cond, g, zero, g.shape()) : where_raw(cond, zero, g, g.shape());
  return sum_to(picked, to);
}

void check_cond(const Tensor& cond, const char* op, const char* what) {
  TSR_CHECK(cond.defined(), Error, op, ": ", what, " is undefined");
  TSR_CHECK(cond.dtype() == DType::Bool, DTypeError, op, ": ", what, " must be a bool tensor, got ",
            dtype_name(cond.dtype()));
}

}  // namespace

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  TSR_PROFILE_OP("where", cond, a, b);
  check_cond(cond, "where", "condition");
  TSR_CHECK(a.dtype() == b.dtype(), DTypeError, "where: branches have dtypes ", dtype_name(a.dtype()), " and ",
            dtype_name(b.dtype()), " (convert one with .to() first)");
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = where_raw(cond, a, b, shape);
  if (any_requires_grad({&a, &b})) {
    SavedTensor saved(cond);
    Shape a_shape = a.shape(), b_shape = b.shape();
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    record("where", out, {a, b}, [saved, a_shape, b_shape, need_a, need_b](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& c = saved.unpack("where");
      return {need_a ? branch_grad(c, g, true, a_shape) : Tensor(),
              need_b ? branch_grad(c, g, false, b_shape) : Tensor()};
    });
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  TSR_PROFILE_OP("masked_fill", x, mask);
  check_cond(mask, "masked_fill", "mask");
  // As torch's out-of-place masked_fill, x and mask broadcast together.
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  Tensor fill = full({}, value, {.dtype = x.dtype(), .device = x.device()});
  Tensor out = where_raw(mask, fill, x, shape);
  if (any_requires_grad({&x})) {
    SavedTensor saved(mask);
    Shape x_shape = x.shape();
    record("masked_fill", out, {x}, [saved, x_shape](const Tensor& g) -> std::vector<Tensor> {
      return {branch_grad(saved.unpack("masked_fill"), g, false, x_shape)};
    });
  }
  return out;
}

}  // namespace tessera
