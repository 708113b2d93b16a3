// gather, index_select and embedding: forward and backward side by side.
// Every index is range-checked here, before any kernel runs, so a bad index is
// an IndexError naming the op, the index, its position and the valid range --
// never an out-of-bounds read. Kernels: src/backends/cpu/indexing.cpp.
#include "kernels/indexing.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/indexing.h"
#include "tessera/core/profiler.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

// int64 (or int32, converted) indices; anything else is a DTypeError.
Tensor as_index(const Tensor& index, const char* op, const char* what) {
  TSR_CHECK(index.defined(), Error, op, ": ", what, " is undefined");
  TSR_CHECK(is_integral(index.dtype()), DTypeError, op, ": ", what, " must be int64, got ",
            dtype_name(index.dtype()));
  return index.to(DType::I64);
}

// Throws IndexError at the first index outside [0, size) (the scan is a kernel:
// the indices live on the op's device).
void check_range(const Tensor& index, int64_t size, const char* op, const char* what_range) {
  Tensor c = index.contiguous();
  const IndexRangeViolation bad = index_range_stub[c.device()](c, size, std::nullopt);
  if (bad.position >= 0)
    throw IndexError(detail::concat(op, ": index ", bad.value, " (at flat position ", bad.position,
                                    " of index shape ", shape_str(index.shape()), ") is out of range for ",
                                    what_range, " of size ", size, " (valid range [0, ", size, "))"));
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_in) {
  TSR_PROFILE_OP("gather", x, index_in);
  Tensor index = as_index(index_in, "gather", "index");
  const int64_t nd = x.dim();
  dim = wrap_dim(dim, nd, "gather");
  TSR_CHECK(index.dim() == nd || (nd == 0 && index.dim() <= 1) || (index.dim() == 0 && nd <= 1), ShapeError,
            "gather: index shape ", shape_str(index.shape()), " must have as many dims as input shape ",
            shape_str(x.shape()));
  if (nd == 0 || index.dim() == 0) {
    // Scalars: work on 1-D views, then restore index's shape.
    Shape out_shape = index.shape();
    Tensor out = gather(x.reshape({x.numel()}), 0, index.reshape({index.numel()}));
    return out.reshape(out_shape);
  }
  for (int64_t d = 0; d < nd; ++d)
    TSR_CHECK(d == dim || index.size(d) <= x.size(d), ShapeError, "gather: index shape ", shape_str(index.shape()),
              " exceeds input shape ", shape_str(x.shape()), " in dim ", d, " (only dim ", dim, " may be larger)");
  std::string what = detail::concat("dim ", dim, " of input shape ", shape_str(x.shape()), ",");
  check_range(index, x.size(dim), "gather", what.c_str());

  Tensor out = empty(index.shape(), {.dtype = x.dtype(), .device = x.device()});
  gather_stub[x.device()](out, x, dim, index);
  if (any_requires_grad({&x})) {
    SavedTensor saved_index(index);
    Shape x_shape = x.shape();
    DType dt = x.dtype();
    record("gather", out, {x}, [saved_index, x_shape, dt, dim](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& idx = saved_index.unpack("gather");
      Tensor gx = zeros(x_shape, {.dtype = dt, .device = g.device()});
      gather_backward_stub[g.device()](gx, g.contiguous(), dim, idx);
      return {gx};
    });
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_in) {
  TSR_PROFILE_OP("index_select", x, index_in);
  Tensor index = as_index(index_in, "index_select", "index");
  TSR_CHECK(index.dim() <= 1, ShapeError, "index_select: index must be 1-D, got shape ", shape_str(index.shape()));
  if (x.dim() == 0) {
    Tensor out = index_select(x.reshape({1}), 0, index);
    return index.dim() == 0 ? out.reshape({}) : out;
  }
  dim = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx1 = index.reshape({index.numel()});
  std::string what = detail::concat("dim ", dim, " of input shape ", shape_str(x.shape()), ",");
  check_range(idx1, x.size(dim), "index_select", what.c_str());

  Shape out_shape = x.shape();
  out_shape[dim] = idx1.numel();
  // A gather whose index is idx1 broadcast along every other dim.
  Shape idx_view_shape(x.dim(), 1);
  idx_view_shape[dim] = idx1.numel();
  Tensor idx_b = idx1.contiguous().view(idx_view_shape).expand(out_shape);
  Tensor out = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  gather_stub[x.device()](out, x, dim, idx_b);
  if (any_requires_grad({&x})) {
    SavedTensor saved_index(idx_b);
    Shape x_shape = x.shape();
    DType dt = x.dtype();
    record("index_select", out, {x}, [saved_index, x_shape, dt, dim](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& idx = saved_index.unpack("index_select");
      Tensor gx = zeros(x_shape, {.dtype = dt, .device = g.device()});
      gather_backward_stub[g.device()](gx, g.contiguous(), dim, idx);
      return {gx};
    });
  }
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices_in, std::optional<int64_t> padding_idx) {
  TSR_PROFILE_OP("embedding", weight, indices_in);
  Tensor indices = as_index(indices_in, "embedding", "indices");
  TSR_CHECK(weight.dim() == 2, ShapeError, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape ",
            shape_str(weight.shape()));
  TSR_CHECK(is_floating(weight.dtype()), DTypeError, "embedding: weight must be floating point, got ",
            dtype_name(weight.dtype()));
  const int64_t V = weight.size(0), D = weight.size(1);
  int64_t pad = -1;
  if (padding_idx) {
    TSR_CHECK(*padding_idx >= -V && *padding_idx < V, IndexError, "embedding: padding_idx ", *padding_idx,
              " is out of range for ", V, " embeddings (valid range [", -V, ", ", V, "))");
    pad = *padding_idx < 0 ? *padding_idx + V : *padding_idx;
  }
  Tensor flat = indices.contiguous().reshape({indices.numel()});  // (n)
  check_range(flat, V, "embedding", "a weight of num_embeddings");

  Tensor w = weight.detach().contiguous();
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, {.dtype = weight.dtype(), .device = weight.device()});  // (..., D)
  embedding_stub[weight.device()](out, w, flat);
  if (any_requires_grad({&weight})) {
    SavedTensor saved(flat);
    DType dt = weight.dtype();
    record("embedding", out, {weight}, [saved, V, D, dt, pad](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& idx = saved.unpack("embedding");
      Tensor gw = zeros({V, D}, {.dtype = dt, .device = g.device()});  // (V, D)
      embedding_backward_stub[g.device()](gw, g.contiguous(), idx, pad);
      return {gw};
    });
  }
  return out;
}

}  // namespace tessera
