// softmax and log_softmax along any dim, forward and backward. The input is
// viewed as a contiguous (outer, n, inner) block with n the softmax dim, so
// the last dim (inner == 1) and other dims (vectorized across inner) need no
// transpose. Stable: the kernels subtract the max along the dim first.
#include <algorithm>

#include "kernels/softmax.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/softmax.h"
#include "tessera/core/profiler.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  TSR_PROFILE_OP(log ? "log_softmax" : "softmax", x);
  const char* op = log ? "log_softmax" : "softmax";
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, op,
            ": expected a float32 or float64 tensor, got ", dtype_name(x.dtype()));
  // A 0-d tensor behaves as one element along dim 0 or -1, as in torch.
  const int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.size(i);
    else if (i == d) n = x.size(i);
    else inner *= x.size(i);
  }
  Tensor xc = x.detach().contiguous();
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) softmax_stub[x.device()](out, xc, outer, n, inner, log);
  if (any_requires_grad({&x})) {
    // The backward needs only the output; a detached alias avoids a cycle
    // through out's own node and still sees in-place changes to out.
    SavedTensor saved(out.detach());
    record(op, out, {x}, [saved, outer, n, inner, log, op](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& y = saved.unpack(op);
      Tensor gx = empty(y.shape(), {.dtype = y.dtype(), .device = y.device()});
      if (gx.numel() > 0) softmax_backward_stub[y.device()](gx, g.contiguous(), y, outer, n, inner, log);
      return {gx};
    });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace tessera
