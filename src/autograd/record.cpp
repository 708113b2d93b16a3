// Attaching history to op outputs.
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"

namespace tessera {

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* op, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return;
  TSR_CHECK(is_floating(output.dtype()), AutogradError, op, ": cannot record a gradient for a ",
            dtype_name(output.dtype()), " output");
  auto node = std::make_shared<Node>();
  node->name = op;
  node->backward = std::move(backward);
  node->next.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    Edge e;
    if (in.defined() && in.requires_grad()) {
      if (in.grad_fn())
        e.fn = in.grad_fn();
      else
        e.leaf = in.impl_ptr();
    }
    node->next.push_back(std::move(e));
    node->input_shapes.push_back(in.defined() ? in.shape() : Shape{});
    node->input_dtypes.push_back(in.defined() ? in.dtype() : DType::F32);
  }
  // The output is a fresh tensor produced by this op: give it history. If the
  // op returned an existing tensor (an identity view), wrap it first.
  TensorImpl* impl = output.unsafe_impl();
  if (impl->autograd.grad_fn || impl->autograd.requires_grad) {
    output = output.detach();
    impl = output.unsafe_impl();
  }
  impl->autograd.requires_grad = true;
  impl->autograd.grad_fn = std::move(node);
}

const Tensor& SavedTensor::unpack(const char* op) const {
  if (t_.defined() && t_.version() != version_)
    throw AutogradError(detail::concat(
        op, ": a tensor saved for the backward pass was modified by an in-place operation after it was saved "
            "(version ",
        version_, " -> ", t_.version(), "); clone it before modifying it"));
  return t_;
}

}  // namespace tessera
