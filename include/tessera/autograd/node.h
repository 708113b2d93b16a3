// The backward graph. Each differentiable op that runs while grad mode is on
// creates one Node for its output; the Node holds the op's backward closure and
// one Edge per input (to the input's grad_fn, or to a leaf that accumulates).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

struct Edge {
  std::shared_ptr<Node> fn;            // set when the input has history
  std::shared_ptr<TensorImpl> leaf;    // set when the input is a leaf requiring grad
  bool active() const { return fn || leaf; }
};

// Given the gradient of the op's output, returns one gradient per input (an
// undefined Tensor where the input needs none). Runs with grad mode off.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
// The backward of an op with several outputs (split, chunk): given one
// gradient per output (undefined where none reached that output, but at least
// one is defined), returns one gradient per input. Runs with grad mode off.
using MultiBackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

struct Node {
  std::string name;           // op name, for error messages and graph dumps
  std::vector<Edge> next;     // one per input, in the op's input order
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;
  BackwardFn backward;
  std::weak_ptr<TensorImpl> retained;  // non-leaf whose .grad is kept (retain_grad)
  // An op with several outputs gets one shared node holding multi_backward
  // (num_outputs > 0), and each output its own node with output_slot set and
  // one edge, to the shared node. The engine hands each output's gradient to
  // its slot of the shared node, and runs the shared node once, after all of
  // its outputs' nodes.
  MultiBackwardFn multi_backward;
  int64_t num_outputs = 0;
  int64_t output_slot = -1;
};

// Whether any of `inputs` needs a gradient and grad mode is on.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attach history to `output`: called by an op after computing its forward.
// Does nothing when no input requires grad or grad mode is off.
void record(const char* op, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward);
// The same for an op with several outputs: one backward call receives all of
// their gradients, so the input's gradient is assembled once.
void record_multi(const char* op, std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                  MultiBackwardFn backward);

// A tensor saved for backward. unpack() fails with a clear AutogradError when
// the tensor was modified in place after being saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t) : t_(t), version_(t.defined() ? t.version() : 0) {}
  const Tensor& unpack(const char* op) const;

 private:
  Tensor t_;
  uint64_t version_ = 0;
};

// Called by run_backward on the thread that runs it, once per leaf tensor of
// the graph, as soon as every gradient that backward delivers to that leaf
// has been summed into its .grad (or when none will come): the leaf's
// gradient is final for this backward. Data-parallel training starts a
// leaf's all-reduce from here while the rest of the backward still runs.
// Scoped and thread-local; nests (the inner callback wins while it lives).
using LeafGradReadyFn = std::function<void(TensorImpl* leaf)>;
class LeafGradReadyScope {
 public:
  explicit LeafGradReadyScope(LeafGradReadyFn fn);
  ~LeafGradReadyScope();
  LeafGradReadyScope(const LeafGradReadyScope&) = delete;
  LeafGradReadyScope& operator=(const LeafGradReadyScope&) = delete;

 private:
  LeafGradReadyFn fn_;
  const LeafGradReadyFn* prev_;
};

// Run backpropagation from roots with their gradients (used by Tensor::backward).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

// Gradients of outputs w.r.t. inputs without touching .grad (torch.autograd.grad).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                         const std::vector<Tensor>& inputs, bool retain_graph = false);

}  // namespace tessera
