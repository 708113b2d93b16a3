// Tensor basics: shape helpers, metadata, factories, element access and the
// in-place ops. Views with autograd live in src/ops/views.cpp.
#include "tessera/core/tensor.h"

#include <cmath>
#include <sstream>

#include "kernels/copy.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"

namespace tessera {

DType dtype_from_name(const std::string& n) {
  if (n == "float32" || n == "f32" || n == "float") return DType::F32;
  if (n == "float64" || n == "f64" || n == "double") return DType::F64;
  if (n == "bfloat16" || n == "bf16") return DType::BF16;
  if (n == "int32" || n == "i32") return DType::I32;
  if (n == "int64" || n == "i64" || n == "long") return DType::I64;
  if (n == "bool") return DType::Bool;
  throw DTypeError("unknown dtype '" + n + "' (expected float32, float64, bfloat16, int32, int64 or bool)");
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= std::max<int64_t>(s[d], 1);
  }
  return st;
}

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  TSR_CHECK(d >= -n && d < n, IndexError, "size: dim ", d, " out of range for a tensor of shape ", shape_str(shape()));
  return shape()[d < 0 ? d + n : d];
}

int64_t Tensor::stride(int64_t d) const {
  int64_t n = dim();
  TSR_CHECK(d >= -n && d < n, IndexError, "stride: dim ", d, " out of range for a tensor of shape ", shape_str(shape()));
  return strides()[d < 0 ? d + n : d];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

Tensor& Tensor::set_requires_grad(bool r) {
  TSR_CHECK(!r || is_floating(dtype()), AutogradError, "requires_grad: only floating-point tensors can require grad, got ",
            dtype_name(dtype()));
  TSR_CHECK(is_leaf(), AutogradError,
            "requires_grad: can only be changed on leaf tensors (this one was produced by ", grad_fn()->name,
            "); use detach() first");
  impl().autograd.requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const {
  auto& g = impl().autograd.grad;
  return g ? Tensor(g) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    TSR_CHECK(g.shape() == shape(), ShapeError, "set_grad: gradient shape ", shape_str(g.shape()),
              " does not match tensor shape ", shape_str(shape()));
  impl().autograd.grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() { impl().autograd.grad = nullptr; }

void Tensor::retain_grad() {
  if (is_leaf()) return;
  impl().autograd.retains_grad = true;
  grad_fn()->retained = impl_;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  Tensor g = grad;
  if (!g.defined()) {
    TSR_CHECK(numel() == 1, AutogradError, "backward: grad can be implicitly created only for a tensor with one element, got shape ",
              shape_str(shape()), "; pass a gradient");
    g = ones(shape(), {.dtype = dtype(), .device = device()});
  }
  run_backward({*this}, {g}, retain_graph);
}

Tensor Tensor::detach() const {
  auto t = std::make_shared<TensorImpl>();
  t->storage = impl().storage;
  t->shape = shape();
  t->strides = strides();
  t->offset = offset();
  t->dtype = dtype();
  return Tensor(t);
}

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  TSR_CHECK(shape.size() == strides.size(), ShapeError, "as_strided: shape ", shape_str(shape), " and strides ",
            shape_str(strides), " differ in rank");
  auto t = std::make_shared<TensorImpl>();
  t->storage = impl().storage;
  t->shape = shape;
  t->strides = strides;
  t->offset = offset;
  t->dtype = dtype();
  return Tensor(t);
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), {.dtype = dt, .device = device()});
  copy_stub[device()](out, *this);
  if (is_floating(dt) && requires_grad() && grad_enabled()) {
    DType src = dtype();
    record("to", out, {*this}, [src](const Tensor& g) -> std::vector<Tensor> { return {g.to(src)}; });
  }
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  throw DeviceError("to: no copy path from " + device().str() + " to " + d.str() + " in this build");
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), {.dtype = dtype(), .device = device()});
  copy_stub[device()](out, *this);
  record("clone", out, {*this}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
  return out;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

double Tensor::item() const {
  TSR_CHECK(numel() == 1, ShapeError, "item: expected a tensor with one element, got shape ", shape_str(shape()));
  return to_vector<double>()[0];
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(dtype_of<T>::value).contiguous();
  const T* p = static_cast<const T*>(c.raw_data());
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

std::string Tensor::to_string(int64_t max_elems) const {
  std::ostringstream os;
  os << "tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype()) << ", values=[";
  auto v = (dtype() == DType::Bool ? to(DType::I64) : *this).to_vector<double>();
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()) && i < max_elems; ++i) os << (i ? ", " : "") << v[i];
  if (static_cast<int64_t>(v.size()) > max_elems) os << ", ...";
  os << "])";
  return os.str();
}

// ---- in-place ----

static void check_inplace(const Tensor& t, const char* op) {
  TSR_CHECK(!(grad_enabled() && t.requires_grad()), AutogradError, op,
            ": in-place operation on a tensor that requires grad while recording gradients; use the out-of-place "
            "form or wrap the update in NoGradGuard");
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  fill_stub[device()](*this, value);
  bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  broadcast_shapes(shape(), src.shape(), "copy_");
  TSR_CHECK(broadcast_shapes(shape(), src.shape(), "copy_") == shape(), ShapeError, "copy_: source shape ",
            shape_str(src.shape()), " does not broadcast to destination shape ", shape_str(shape()));
  copy_stub[device()](*this, src);
  bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  Tensor r;
  {
    NoGradGuard ng;
    r = add(*this, other, alpha);
  }
  TSR_CHECK(r.shape() == shape(), ShapeError, "add_: shape ", shape_str(other.shape()),
            " does not broadcast to ", shape_str(shape()));
  copy_stub[device()](*this, r);
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  Tensor r;
  {
    NoGradGuard ng;
    r = mul(*this, value);
  }
  copy_stub[device()](*this, r);
  bump_version();
  return *this;
}

// ---- factories ----

Tensor empty(const Shape& shape, TensorOptions opts) {
  for (int64_t d : shape)
    TSR_CHECK(d >= 0, ShapeError, "empty: negative dimension in shape ", shape_str(shape));
  auto t = std::make_shared<TensorImpl>();
  int64_t n = shape_numel(shape);
  t->storage = std::make_shared<Storage>(static_cast<size_t>(n) * dtype_size(opts.dtype), opts.device);
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = opts.dtype;
  Tensor out(t);
  if (opts.requires_grad) out.set_requires_grad(true);
  return out;
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor t = empty(shape, opts);
  fill_stub[opts.device](t, value);
  if (rg) t.set_requires_grad(true);
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }

Tensor arange(int64_t start, int64_t end, int64_t step, TensorOptions opts) {
  TSR_CHECK(step != 0, Error, "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, (end - start + step + (step > 0 ? -1 : 1)) / step);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(start + i * step);
  return from_vector<double>(v, {n}, opts);
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions opts) {
  TSR_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), ShapeError, "from_vector: ", values.size(),
            " values do not fill shape ", shape_str(shape));
  std::vector<T> copy = values;
  Tensor src = from_blob(copy.data(), shape, dtype_of<T>::value);
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor out = empty(shape, opts);
  copy_stub[opts.device](out, src);
  if (rg) out.set_requires_grad(true);
  return out;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, TensorOptions);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, TensorOptions);
template <>
Tensor from_vector<bool>(const std::vector<bool>& values, const Shape& shape, TensorOptions opts) {
  std::vector<int64_t> v(values.begin(), values.end());
  return from_vector<int64_t>(v, shape, {.dtype = DType::I64}).to(opts.dtype);
}

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>(data, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), cpu_device(),
                                         std::move(deleter));
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  return Tensor(t);
}

}  // namespace tessera
