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

namespace {

// A node for `op` with one edge per input.
std::shared_ptr<Node> make_node(const char* op, const std::vector<Tensor>& inputs) {
  auto node = std::make_shared<Node>();
  node->name = op;
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
  return node;
}

// Gives `output`, a fresh tensor produced by op, the history `node`. If the op
// returned an existing tensor (an identity view), wrap it first.
void attach(const char* op, Tensor& output, std::shared_ptr<Node> node) {
  TSR_CHECK(is_floating(output.dtype()), AutogradError, op, ": cannot record a gradient for a ",
            dtype_name(output.dtype()), " output");
  TensorImpl* impl = output.unsafe_impl();
  if (impl->autograd.grad_fn || impl->autograd.requires_grad) {
    output = output.detach();
    impl = output.unsafe_impl();
  }
  impl->autograd.requires_grad = true;
  impl->autograd.grad_fn = std::move(node);
}

}  // namespace

void record(const char* op, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return;
  auto node = make_node(op, inputs);
  node->backward = std::move(backward);
  attach(op, output, std::move(node));
}

void record_multi(const char* op, std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                  MultiBackwardFn backward) {
  if (!any_requires_grad(inputs)) return;
  for (const Tensor& out : outputs)
    TSR_CHECK(is_floating(out.dtype()), AutogradError, op, ": cannot record a gradient for a ",
              dtype_name(out.dtype()), " output");
  auto shared = make_node(op, inputs);
  shared->multi_backward = std::move(backward);
  shared->num_outputs = static_cast<int64_t>(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto slot = std::make_shared<Node>();
    slot->name = op;
    slot->output_slot = static_cast<int64_t>(i);
    slot->next.push_back(Edge{shared, nullptr});
    slot->input_shapes.push_back(outputs[i].shape());
    slot->input_dtypes.push_back(outputs[i].dtype());
    attach(op, outputs[i], std::move(slot));
  }
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
