// cat and stack: copies, one backward node over all inputs.
#include "tessera/ops/join.h"
#include "tessera/core/profiler.h"

#include "kernels/copy.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

// The shared checks of cat and stack: a non-empty list, one dtype, one device.
void check_list(const std::vector<Tensor>& ts, const char* op) {
  TSR_CHECK(!ts.empty(), Error, op, ": expected a non-empty list of tensors");
  for (size_t i = 0; i < ts.size(); ++i) {
    TSR_CHECK(ts[i].defined(), Error, op, ": tensor ", i, " is undefined");
    TSR_CHECK(ts[i].dtype() == ts[0].dtype(), DTypeError, op, ": tensor ", i, " has dtype ",
              dtype_name(ts[i].dtype()), " but tensor 0 has ", dtype_name(ts[0].dtype()),
              " (convert with .to() first)");
    TSR_CHECK(ts[i].device() == ts[0].device(), DeviceError, op, ": tensor ", i, " is on ", ts[i].device().str(),
              " but tensor 0 is on ", ts[0].device().str());
  }
}

// A 1-D tensor of size 0: torch.cat skips these whatever the other shapes are.
bool is_legacy_empty(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TSR_PROFILE_OP("cat", tensors);
  check_list(tensors, "cat");
  // The reference tensor fixes the rank and the sizes of the other dims.
  const Tensor* ref = nullptr;
  for (const Tensor& t : tensors)
    if (!is_legacy_empty(t)) {
      ref = &t;
      break;
    }
  if (!ref) ref = &tensors[0];
  TSR_CHECK(ref->dim() > 0, ShapeError, "cat: zero-dimensional tensors cannot be concatenated");
  dim = wrap_dim(dim, ref->dim(), "cat");
  Shape out_shape = ref->shape();
  out_shape[dim] = 0;
  std::vector<int64_t> starts(tensors.size(), 0), sizes(tensors.size(), 0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (is_legacy_empty(t) && ref->dim() != 1) continue;
    bool ok = t.dim() == ref->dim();
    for (int64_t d = 0; ok && d < ref->dim(); ++d) ok = d == dim || t.size(d) == ref->size(d);
    TSR_CHECK(ok, ShapeError, "cat: tensor ", i, " has shape ", shape_str(t.shape()), " but tensor shapes must match ",
              shape_str(ref->shape()), " in every dim except dim ", dim);
    starts[i] = out_shape[dim];
    sizes[i] = t.size(dim);
    out_shape[dim] += sizes[i];
  }
  Tensor out = empty(out_shape, {.dtype = ref->dtype(), .device = ref->device()});
  for (size_t i = 0; i < tensors.size(); ++i)
    if (sizes[i] > 0) copy_stub[out.device()](out.narrow(dim, starts[i], sizes[i]), tensors[i]);
  if (any_requires_grad(tensors)) {
    std::vector<bool> needs(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) needs[i] = tensors[i].requires_grad();
    record("cat", out, tensors, [needs, starts, sizes, dim](const Tensor& g) -> std::vector<Tensor> {
      std::vector<Tensor> grads(needs.size());
      for (size_t i = 0; i < needs.size(); ++i)
        if (needs[i] && sizes[i] > 0) grads[i] = g.narrow(dim, starts[i], sizes[i]);
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TSR_PROFILE_OP("stack", tensors);
  check_list(tensors, "stack");
  const Shape& shape = tensors[0].shape();
  for (size_t i = 1; i < tensors.size(); ++i)
    TSR_CHECK(tensors[i].shape() == shape, ShapeError, "stack: tensor ", i, " has shape ",
              shape_str(tensors[i].shape()), " but tensor 0 has shape ", shape_str(shape),
              " (stack needs equal shapes)");
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  Shape out_shape = shape;
  out_shape.insert(out_shape.begin() + dim, static_cast<int64_t>(tensors.size()));
  Tensor out = empty(out_shape, {.dtype = tensors[0].dtype(), .device = tensors[0].device()});
  if (out.numel() > 0)
    for (size_t i = 0; i < tensors.size(); ++i)
      copy_stub[out.device()](out.select(dim, static_cast<int64_t>(i)), tensors[i]);
  if (any_requires_grad(tensors)) {
    std::vector<bool> needs(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) needs[i] = tensors[i].requires_grad();
    record("stack", out, tensors, [needs, dim](const Tensor& g) -> std::vector<Tensor> {
      std::vector<Tensor> grads(needs.size());
      for (size_t i = 0; i < needs.size(); ++i)
        if (needs[i]) grads[i] = g.select(dim, static_cast<int64_t>(i));
      return grads;
    });
  }
  return out;
}

}  // namespace tessera
