// The backward engine. It walks the graph from the roots, counts how many
// gradients each node waits for, then runs nodes in dependency order, summing
// gradients that fan in (a tensor used twice) before a node runs. Iterative,
// so deep graphs (long RNN unrolls) do not overflow the stack. Deterministic:
// the visiting order depends only on the graph. An op with several outputs
// (record_multi) runs its backward once, with all of its outputs' gradients.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/core/profiler.h"
#include "tessera/ops/elementwise.h"

namespace tessera {
namespace {

thread_local const LeafGradReadyFn* t_leaf_ready = nullptr;

void check_grad(const char* who, const std::string& op, const Tensor& g, const Shape& shape, size_t input) {
  TSR_CHECK(g.shape() == shape, AutogradError, "backward of ", op, ": gradient for input ", input, " has shape ",
            shape_str(g.shape()), " but the input has shape ", shape_str(shape), " (", who, ")");
}

// The profiler's name for a node's backward ("linear_backward"); built only while recording.
const char* backward_event_name(const Node& node) {
  return profiler::enabled() ? profiler::runtime_name(node.name + "_backward") : "";
}

Tensor accumulate(const Tensor& acc, const Tensor& g) { return acc.defined() ? add(acc, g) : g; }

void accumulate_leaf(const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
  Tensor lt(leaf);
  Tensor cur = lt.grad();
  // Gradients are stored contiguous and owned (never a view of another buffer).
  Tensor next = cur.defined() ? add(cur, g) : (g.is_contiguous() && g.dtype() == lt.dtype() ? g.clone() : g.to(lt.dtype()).contiguous().clone());
  if (next.dtype() != lt.dtype()) next = next.to(lt.dtype());
  leaf->autograd.grad = next.impl_ptr();
}

}  // namespace

LeafGradReadyScope::LeafGradReadyScope(LeafGradReadyFn fn) : fn_(std::move(fn)), prev_(t_leaf_ready) {
  t_leaf_ready = &fn_;
}
LeafGradReadyScope::~LeafGradReadyScope() { t_leaf_ready = prev_; }

static void execute(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph,
                    std::unordered_map<TensorImpl*, Tensor>* capture) {
  TSR_CHECK(roots.size() == grads.size(), AutogradError, "backward: ", roots.size(), " roots but ", grads.size(),
            " gradients");
  NoGradGuard no_grad;
  std::unordered_map<Node*, Tensor> pending;
  std::unordered_map<Node*, int> deps;
  std::vector<std::shared_ptr<Node>> ready;

  // With a LeafGradReadyScope: per leaf, the edges still to deliver.
  const LeafGradReadyFn* leaf_ready = capture ? nullptr : t_leaf_ready;
  std::unordered_map<TensorImpl*, int> leaf_edges;
  auto leaf_edge_done = [&](TensorImpl* leaf) {
    if (leaf_ready && --leaf_edges[leaf] == 0) (*leaf_ready)(leaf);
  };

  auto deliver_leaf = [&](const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
    if (capture) {
      auto it = capture->find(leaf.get());
      if (it != capture->end()) it->second = accumulate(it->second, g);
      return;
    }
    accumulate_leaf(leaf, g);
  };

  // Count dependencies over the reachable graph.
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (const Tensor& r : roots) {
    TSR_CHECK(r.requires_grad(), AutogradError,
              "backward: tensor of shape ", shape_str(r.shape()), " does not require grad and has no grad_fn");
    if (r.grad_fn() && seen.insert(r.grad_fn().get()).second) stack.push_back(r.grad_fn().get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (leaf_ready && e.leaf) ++leaf_edges[e.leaf.get()];
      if (!e.fn) continue;
      ++deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    TSR_CHECK(grads[i].shape() == r.shape(), AutogradError, "backward: gradient of shape ", shape_str(grads[i].shape()),
              " for a tensor of shape ", shape_str(r.shape()));
    if (!r.grad_fn()) {
      deliver_leaf(r.impl_ptr(), grads[i]);
      continue;
    }
    Node* n = r.grad_fn().get();
    pending[n] = accumulate(pending[n], grads[i]);
  }
  for (const Tensor& r : roots)
    if (r.grad_fn() && deps[r.grad_fn().get()] == 0) {
      bool dup = false;
      for (auto& q : ready) dup |= q == r.grad_fn();
      if (!dup) ready.push_back(r.grad_fn());
    }

  // Gradients waiting in the slots of multi-output nodes (record_multi).
  std::unordered_map<Node*, std::vector<Tensor>> slots;

  // Hands a node's input gradients on: to leaves, or to the nodes that produced the inputs.
  auto deliver = [&](Node& node, const std::vector<Tensor>& in_grads) {
    TSR_CHECK(in_grads.size() == node.next.size(), AutogradError, "backward of ", node.name, " returned ",
              in_grads.size(), " gradients for ", node.next.size(), " inputs");
    for (size_t i = 0; i < node.next.size(); ++i) {
      const Edge& e = node.next[i];
      if (!e.active()) continue;
      const Tensor& ig = in_grads[i];
      if (ig.defined()) check_grad("engine", node.name, ig, node.input_shapes[i], i);
      if (e.leaf) {
        if (ig.defined()) deliver_leaf(e.leaf, ig);
        leaf_edge_done(e.leaf.get());
        continue;
      }
      Node* child = e.fn.get();
      if (ig.defined()) pending[child] = accumulate(pending[child], ig);
      if (--deps[child] == 0) ready.push_back(e.fn);
    }
  };
  // No gradient reached this node: its inputs get none from it either, but
  // they must still stop waiting for it.
  auto skip = [&](Node& node) {
    for (const Edge& e : node.next) {
      if (e.leaf) leaf_edge_done(e.leaf.get());
      if (e.fn && --deps[e.fn.get()] == 0) ready.push_back(e.fn);
    }
  };

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.back();
    ready.pop_back();
    if (node->num_outputs > 0) {  // the shared node of a multi-output op: every output's gradient is in
      std::vector<Tensor> gs;
      if (auto it = slots.find(node.get()); it != slots.end()) {
        gs = std::move(it->second);
        slots.erase(it);
      }
      gs.resize(node->num_outputs);
      if (std::none_of(gs.begin(), gs.end(), [](const Tensor& t) { return t.defined(); })) {
        skip(*node);
        continue;
      }
      TSR_CHECK(node->multi_backward != nullptr, AutogradError, "backward through ", node->name,
                " a second time: its saved tensors were freed; pass retain_graph=true to the first backward");
      std::vector<Tensor> in_grads;
      {
        profiler::Scope event(backward_event_name(*node), profiler::Kind::Backward);
        in_grads = node->multi_backward(gs);
      }
      if (!retain_graph) node->multi_backward = nullptr;
      deliver(*node, in_grads);
      continue;
    }
    Tensor g = pending[node.get()];
    pending.erase(node.get());
    if (!g.defined()) {
      skip(*node);
      if (!retain_graph) node->backward = nullptr;
      continue;
    }
    if (auto kept = node->retained.lock()) {
      Tensor k(kept);
      Tensor cur = k.grad();
      kept->autograd.grad = (cur.defined() ? add(cur, g) : g.contiguous().clone()).impl_ptr();
    }
    if (node->output_slot >= 0) {  // one output of a multi-output op: park its gradient in the shared node
      const std::shared_ptr<Node>& shared = node->next[0].fn;
      std::vector<Tensor>& gs = slots[shared.get()];
      gs.resize(shared->num_outputs);
      gs[node->output_slot] = accumulate(gs[node->output_slot], g);
      if (--deps[shared.get()] == 0) ready.push_back(shared);
      continue;
    }
    TSR_CHECK(node->backward != nullptr, AutogradError, "backward through ", node->name,
              " a second time: its saved tensors were freed; pass retain_graph=true to the first backward");
    std::vector<Tensor> in_grads;
    {
      profiler::Scope event(backward_event_name(*node), profiler::Kind::Backward);
      in_grads = node->backward(g);
    }
    if (!retain_graph) node->backward = nullptr;  // frees saved tensors
    deliver(*node, in_grads);
  }
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  execute(roots, grads, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                         const std::vector<Tensor>& inputs, bool retain_graph) {
  std::unordered_map<TensorImpl*, Tensor> capture;
  for (const Tensor& in : inputs) {
    TSR_CHECK(in.is_leaf() && in.requires_grad(), AutogradError,
              "grad: inputs must be leaf tensors that require grad");
    capture[in.unsafe_impl()] = Tensor();
  }
  execute(outputs, grad_outputs, retain_graph, &capture);
  std::vector<Tensor> out;
  for (const Tensor& in : inputs) out.push_back(capture[in.unsafe_impl()]);
  return out;
}

}  // namespace tessera
