// View ops: new shape/strides/offset over the same storage, no copy (as in
// PyTorch). Each records a backward that maps the gradient back to the
// input's shape.
#include <algorithm>
#include <numeric>
#include <optional>

#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/reduce.h"

namespace tessera {
namespace {

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  return base.as_strided(shape, strides, offset);
}

Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Shape& from) {
  Shape s = requested;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      TSR_CHECK(infer < 0, ShapeError, op, ": only one dimension can be -1 in ", shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      TSR_CHECK(s[i] >= 0, ShapeError, op, ": invalid size ", s[i], " in ", shape_str(requested));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    TSR_CHECK(known != 0 && numel % known == 0, ShapeError, op, ": shape ", shape_str(requested),
              " is invalid for input of shape ", shape_str(from));
    s[infer] = numel / known;
  }
  TSR_CHECK(shape_numel(s) == numel, ShapeError, op, ": shape ", shape_str(requested),
            " is invalid for input of shape ", shape_str(from), " (", numel, " elements)");
  return s;
}

// Strides for viewing (old_shape, old_strides) as new_shape without a copy, if
// possible (the chunks of contiguous dims must line up; as torch's computeStride).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& new_shape) {
  Shape ns(new_shape.size(), 0);
  if (shape_numel(old_shape) == 0 || old_shape.empty()) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(old_shape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    if (tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                          old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

std::vector<int64_t> inverse_perm(const std::vector<int64_t>& p) {
  std::vector<int64_t> inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
  return inv;
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  Shape s = infer_shape(requested, numel(), "view", shape());
  auto st = view_strides(shape(), strides(), s);
  TSR_CHECK(st.has_value(), ShapeError, "view: shape ", shape_str(requested), " is not compatible with the strides ",
            shape_str(strides()), " of input shape ", shape_str(shape()), "; use reshape() (which copies)");
  Tensor out = make_view(*this, s, *st, offset());
  Shape in_shape = shape();
  record("view", out, {*this}, [in_shape](const Tensor& g) -> std::vector<Tensor> { return {g.reshape(in_shape)}; });
  return out;
}

Tensor Tensor::reshape(const Shape& requested) const {
  Shape s = infer_shape(requested, numel(), "reshape", shape());
  if (view_strides(shape(), strides(), s)) return view(s);
  return contiguous().view(s);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  int64_t n = dim();
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  if (n == 0) return view({});
  Shape s = shape(), st = strides();
  std::swap(s[d0], s[d1]);
  std::swap(st[d0], st[d1]);
  Tensor out = make_view(*this, s, st, offset());
  record("transpose", out, {*this}, [d0, d1](const Tensor& g) -> std::vector<Tensor> { return {g.transpose(d0, d1)}; });
  return out;
}

Tensor Tensor::t() const {
  TSR_CHECK(dim() <= 2, ShapeError, "t: expects a tensor with <= 2 dimensions, got shape ", shape_str(shape()));
  return dim() < 2 ? view(shape()) : transpose(0, 1);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  int64_t n = dim();
  TSR_CHECK(static_cast<int64_t>(dims.size()) == n, ShapeError, "permute: ", dims.size(),
            " dims given for a tensor of shape ", shape_str(shape()));
  std::vector<int64_t> p(n);
  std::vector<bool> used(n, false);
  Shape s(n), st(n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = wrap_dim(dims[i], n, "permute");
    TSR_CHECK(!used[p[i]], ShapeError, "permute: dim ", p[i], " repeated in ", shape_str(dims));
    used[p[i]] = true;
    s[i] = shape()[p[i]];
    st[i] = strides()[p[i]];
  }
  Tensor out = make_view(*this, s, st, offset());
  auto inv = inverse_perm(p);
  record("permute", out, {*this}, [inv](const Tensor& g) -> std::vector<Tensor> { return {g.permute(inv)}; });
  return out;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  TSR_CHECK(dim() > 0, ShapeError, "slice: cannot slice a 0-d tensor");
  d = wrap_dim(d, dim(), "slice");
  TSR_CHECK(step > 0, Error, "slice: step must be positive, got ", step);
  int64_t len = shape()[d];
  if (start < 0) start += len;
  if (end < 0) end += len;
  start = std::clamp<int64_t>(start, 0, len);
  end = std::clamp<int64_t>(end, start, len);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[d]);
  Shape in_shape = shape();
  DType dt = dtype();
  record("slice", out, {*this}, [in_shape, dt, d, start, end, step](const Tensor& g) -> std::vector<Tensor> {
    Tensor z = zeros(in_shape, {.dtype = dt, .device = g.device()});
    z.slice(d, start, end, step).copy_(g);
    return {z};
  });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  int64_t len = shape()[d];
  if (start < 0) start += len;
  TSR_CHECK(start >= 0 && length >= 0 && start + length <= len, IndexError, "narrow: range [", start, ", ",
            start + length, ") out of bounds for dim ", d, " of size ", len);
  return slice(d, start, start + length, 1);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  TSR_CHECK(dim() > 0, ShapeError, "select: cannot select on a 0-d tensor");
  d = wrap_dim(d, dim(), "select");
  int64_t len = shape()[d];
  TSR_CHECK(index >= -len && index < len, IndexError, "select: index ", index, " out of range for dim ", d,
            " of size ", len);
  if (index < 0) index += len;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, s, st, offset() + index * strides()[d]);
  Shape in_shape = shape();
  DType dt = dtype();
  record("select", out, {*this}, [in_shape, dt, d, index](const Tensor& g) -> std::vector<Tensor> {
    Tensor z = zeros(in_shape, {.dtype = dt, .device = g.device()});
    z.select(d, index).copy_(g);
    return {z};
  });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t new_stride = d < dim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  Tensor out = make_view(*this, s, st, offset());
  record("unsqueeze", out, {*this}, [d](const Tensor& g) -> std::vector<Tensor> { return {g.squeeze(d)}; });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return view({});
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return view(shape());
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, s, st, offset());
  record("squeeze", out, {*this}, [d](const Tensor& g) -> std::vector<Tensor> { return {g.unsqueeze(d)}; });
  return out;
}

Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t x : shape())
    if (x != 1) s.push_back(x);
  return view(s);
}

Tensor Tensor::expand(const Shape& requested) const {
  int64_t n = static_cast<int64_t>(requested.size());
  TSR_CHECK(n >= dim(), ShapeError, "expand: cannot expand shape ", shape_str(shape()), " to ", shape_str(requested));
  Shape s(n), st(n);
  int64_t lead = n - dim();
  for (int64_t i = 0; i < n; ++i) {
    if (i < lead) {
      TSR_CHECK(requested[i] >= 0, ShapeError, "expand: -1 not allowed for new leading dim in ", shape_str(requested));
      s[i] = requested[i];
      st[i] = 0;
      continue;
    }
    int64_t have = shape()[i - lead];
    int64_t want = requested[i] == -1 ? have : requested[i];
    if (have == want) {
      s[i] = have;
      st[i] = strides()[i - lead];
    } else {
      TSR_CHECK(have == 1, ShapeError, "expand: the expanded size ", want, " must match the existing size ", have,
                " at dim ", i, " (shape ", shape_str(shape()), " to ", shape_str(requested), ")");
      s[i] = want;
      st[i] = 0;
    }
  }
  Tensor out = make_view(*this, s, st, offset());
  Shape in_shape = shape();
  record("expand", out, {*this}, [in_shape](const Tensor& g) -> std::vector<Tensor> { return {sum_to(g, in_shape)}; });
  return out;
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  TSR_CHECK(start_dim <= end_dim, ShapeError, "flatten: start_dim ", start_dim, " > end_dim ", end_dim);
  Shape s;
  for (int64_t i = 0; i < start_dim; ++i) s.push_back(shape()[i]);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= shape()[i];
  s.push_back(m);
  for (int64_t i = end_dim + 1; i < dim(); ++i) s.push_back(shape()[i]);
  return reshape(s);
}

}  // namespace tessera
