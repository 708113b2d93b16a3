// split and chunk: views of consecutive ranges along one dim. All pieces share
// one multi-output backward node, which writes each piece's gradient into a
// single buffer of the input's shape. (With one narrow node per piece, every
// piece's gradient was a zero-filled full-size tensor and the engine added
// them up: O(pieces x input) work and memory for a per-step slicing loop.)
#include "tessera/ops/split.h"
#include "tessera/core/profiler.h"

#include <algorithm>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

// The gradient of the input from the pieces' gradients (undefined where a
// piece received none: those ranges are zero).
Tensor assemble(const std::vector<Tensor>& grads, const Shape& shape, DType dtype, int64_t dim,
                const std::vector<int64_t>& starts, const std::vector<int64_t>& sizes) {
  const auto present = std::find_if(grads.begin(), grads.end(), [](const Tensor& g) { return g.defined(); });
  const bool all = std::all_of(grads.begin(), grads.end(), [](const Tensor& g) { return g.defined(); });
  const TensorOptions opts{.dtype = dtype, .device = present->device()};
  Tensor gx = all ? empty(shape, opts) : zeros(shape, opts);  // the pieces tile the whole dim
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && sizes[i] > 0) gx.narrow(dim, starts[i], sizes[i]).copy_(grads[i]);
  return gx;
}

}  // namespace

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  TSR_PROFILE_OP("split", x);
  TSR_CHECK(x.dim() > 0, ShapeError, "split: cannot split a zero-dimensional tensor");
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    TSR_CHECK(s >= 0, ShapeError, "split: sizes must be non-negative, got ", shape_str(sizes));
    total += s;
  }
  TSR_CHECK(total == x.size(dim), ShapeError, "split: sizes ", shape_str(sizes), " sum to ", total,
            " but dim ", dim, " of shape ", shape_str(x.shape()), " has size ", x.size(dim));
  std::vector<Tensor> out;
  std::vector<int64_t> starts;
  out.reserve(sizes.size());
  starts.reserve(sizes.size());
  {
    NoGradGuard no_grad;  // plain views; the history is attached below, once for all pieces
    int64_t start = 0;
    for (int64_t s : sizes) {
      out.push_back(x.narrow(dim, start, s));
      starts.push_back(start);
      start += s;
    }
  }
  record_multi("split", out, {x},
               [shape = x.shape(), dtype = x.dtype(), dim, starts, sizes](const std::vector<Tensor>& grads) {
                 return std::vector<Tensor>{assemble(grads, shape, dtype, dim, starts, sizes)};
               });
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  TSR_CHECK(x.dim() > 0, ShapeError, "split: cannot split a zero-dimensional tensor");
  dim = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(dim);
  TSR_CHECK(split_size > 0 || (split_size == 0 && n == 0), ShapeError, "split: split_size must be positive (0 only "
            "for an empty dim), got ", split_size, " for dim ", dim, " of size ", n);
  if (n == 0) return {x.narrow(dim, 0, 0)};
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += split_size) sizes.push_back(std::min(split_size, n - start));
  return split(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  TSR_PROFILE_OP("chunk", x);
  TSR_CHECK(chunks > 0, ShapeError, "chunk: number of chunks must be positive, got ", chunks);
  TSR_CHECK(x.dim() > 0, ShapeError, "chunk: cannot chunk a zero-dimensional tensor");
  dim = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(dim);
  // As torch: pieces of ceil(n / chunks), possibly fewer than `chunks`; an
  // empty dim gives `chunks` empty pieces.
  if (n == 0) return split(x, std::vector<int64_t>(chunks, 0), dim);
  return split(x, (n + chunks - 1) / chunks, dim);
}

}  // namespace tessera
