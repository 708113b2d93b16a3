// sum along dims and sum_to (the reverse of broadcasting, used by every
// broadcasting op's backward). Reduced dims are moved innermost so each output
// is one contiguous row sum; a reduction over leading dims of a contiguous
// tensor (bias gradients) sums columns instead, without a transposing copy.
#include <algorithm>

#include "kernels/sum.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"
#include "tessera/core/profiler.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  std::vector<bool> mask(x.dim(), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, x.dim(), op);
    if (x.dim() == 0) continue;
    TSR_CHECK(!mask[w] || dims.empty(), ShapeError, op, ": dim ", w, " appears more than once in the reduction dims");
    mask[w] = true;
  }
  return mask;
}

Tensor sum_impl(const Tensor& x0, const std::vector<bool>& mask, bool keepdim) {
  Tensor x = x0.dtype() == DType::Bool ? x0.to(DType::I64) : x0;
  int64_t nd = x.dim();
  Shape out_keep, out_shape;
  std::vector<int64_t> kept, red;
  int64_t red_n = 1;
  for (int64_t d = 0; d < nd; ++d) {
    if (mask[d]) {
      red.push_back(d);
      red_n *= x.size(d);
      out_keep.push_back(1);
      if (keepdim) out_shape.push_back(1);
    } else {
      kept.push_back(d);
      out_keep.push_back(x.size(d));
      out_shape.push_back(x.size(d));
    }
  }
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  int64_t out_n = out.numel();
  if (out_n == 0) return out;
  if (red_n == 0) {
    out.zero_();
    return out;
  }
  bool leading = x.is_contiguous() && !red.empty() && red.back() == static_cast<int64_t>(red.size()) - 1 &&
                 !kept.empty();
  if (leading) {
    sum_cols_stub[x.device()](out, x.contiguous(), red_n, out_n);
    return out;
  }
  std::vector<int64_t> perm = kept;
  perm.insert(perm.end(), red.begin(), red.end());
  Tensor xp;
  {
    NoGradGuard ng;
    xp = x.permute(perm).contiguous();
  }
  sum_rows_stub[x.device()](out, xp, out_n, red_n);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  TSR_PROFILE_OP("sum", x);
  std::vector<bool> mask = reduced_mask(x, dims, "sum");
  Tensor out = sum_impl(x, mask, keepdim);
  Shape in_shape = x.shape();
  record("sum", out, {x}, [in_shape, mask, keepdim](const Tensor& g) -> std::vector<Tensor> {
    Tensor gk = g;
    if (!keepdim) {
      Shape ks;
      for (size_t d = 0; d < in_shape.size(); ++d) ks.push_back(mask[d] ? 1 : in_shape[d]);
      gk = g.reshape(ks);
    }
    return {gk.expand(in_shape)};
  });
  return out;
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor sum_to(const Tensor& t, const Shape& shape) {
  TSR_PROFILE_OP("sum_to", t);
  if (t.shape() == shape) return t;
  int64_t lead = t.dim() - static_cast<int64_t>(shape.size());
  TSR_CHECK(lead >= 0, ShapeError, "sum_to: cannot reduce shape ", shape_str(t.shape()), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && t.size(d) != 1) {
      dims.push_back(d);
    } else {
      TSR_CHECK(shape[d - lead] == t.size(d), ShapeError, "sum_to: cannot reduce shape ", shape_str(t.shape()), " to ",
                shape_str(shape));
    }
  }
  if (dims.empty()) return t.reshape(shape);
  return sum(t, dims, true).reshape(shape);
}

}  // namespace tessera
