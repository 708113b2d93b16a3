// Tensor: an n-dimensional strided view of a Storage, plus autograd metadata.
// Copying a Tensor copies a handle (like torch.Tensor in Python); views share
// storage. Shapes and strides are in elements.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/device.h"
#include "tessera/core/dtype.h"
#include "tessera/core/error.h"
#include "tessera/core/storage.h"

namespace tessera {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

class Tensor;
struct Node;
struct TensorImpl;

// Autograd state of one tensor. A leaf that requires grad has no grad_fn and
// receives gradients in `grad`; a non-leaf's grad_fn produced it.
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
  bool retains_grad = false;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  AutogradMeta autograd;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t offset() const { return impl().offset; }
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl* unsafe_impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // Pointer to the first element of this view.
  void* raw_data() const;
  template <typename T>
  T* data() const {
    TSR_CHECK(dtype_of<T>::value == dtype(), DTypeError, "data<", dtype_name(dtype_of<T>::value),
              ">() called on a ", dtype_name(dtype()), " tensor");
    return static_cast<T*>(raw_data());
  }

  // ---- autograd ----
  bool requires_grad() const { return impl().autograd.requires_grad; }
  // Only on leaves (as in PyTorch); returns *this for chaining.
  Tensor& set_requires_grad(bool r);
  bool is_leaf() const { return impl().autograd.grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().autograd.grad_fn; }
  Tensor grad() const;  // undefined Tensor when none
  void set_grad(const Tensor& g);
  void zero_grad();     // drops the gradient (set_to_none semantics)
  void retain_grad();   // keep the gradient of a non-leaf
  // Backpropagate from this tensor. Without `grad` it must hold one element.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // shares storage, no history

  // ---- views (no copy, as in PyTorch) ----
  Tensor view(const Shape& shape) const;      // needs compatible strides; one dim may be -1
  Tensor reshape(const Shape& shape) const;   // view when possible, else copy
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;                           // 2-D transpose
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;  // Python-style bounds
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops dim
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor expand(const Shape& shape) const;    // -1 keeps a size
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;  // no autograd
  Tensor contiguous() const;                  // self if already contiguous

  // ---- copies and conversion ----
  Tensor clone() const;
  Tensor to(DType dtype) const;  // self if same dtype
  Tensor to(Device device) const;

  // ---- element access (for tests, tools, small tensors) ----
  double item() const;
  template <typename T>
  std::vector<T> to_vector() const;  // logical order, converting from the tensor's dtype
  std::string to_string(int64_t max_elems = 64) const;

  // ---- in-place (allowed when no gradient is being recorded for this tensor) ----
  Tensor& fill_(double value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& src);  // broadcasts src; converts dtype
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double value);

  void bump_version() const { impl().storage->bump_version(); }
  uint64_t version() const { return impl().storage->version(); }

 private:
  TensorImpl& impl() const {
    TSR_CHECK(impl_ != nullptr, Error, "use of an undefined Tensor");
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

// ---- factories ----
struct TensorOptions {
  DType dtype = DType::F32;
  Device device = cpu_device();
  bool requires_grad = false;
};
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor arange(int64_t start, int64_t end, int64_t step = 1, TensorOptions opts = {.dtype = DType::I64});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor scalar_tensor(double value, TensorOptions opts = {});
// Copies `values` (converted to opts.dtype) into a new tensor of `shape`.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, TensorOptions opts = {.dtype = dtype_of<T>::value});
// Wraps external memory without copying; `deleter` runs when the last view dies.
Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter = {});

}  // namespace tessera
