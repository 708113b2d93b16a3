// The device comparison mode (device_parity.h). Both sides run with the
// default generator reseeded, so module cases that draw from it see the same
// numbers; every result is copied to the CPU before comparing.
#include "device_parity.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include "case_inputs.h"
#include "kernels/elementwise.h"
#include "kernels/softmax.h"
#include "kernels/stub_list.h"
#include "registry.h"

using nlohmann::json;

namespace tessera::parity {

namespace {

// One side of a case: outputs and the gradients torch also has, on the CPU.
struct SideResult {
  std::vector<Tensor> outputs;
  std::vector<Tensor> grads;  // per input; undefined where the golden case has none
};

SideResult run_side(const OpFn& fn, const json& c, Device device) {
  manual_seed(0);
  std::vector<Input> ins;
  std::vector<Tensor> views;
  for (const auto& s : c.at("inputs")) {
    DType dt = dtype_of_spec(s.at("dtype"));
    ins.push_back(make_input(s, dt, s.at("requires_grad").get<bool>() && is_floating(dt), device));
    views.push_back(ins.back().view);
  }
  std::vector<Tensor> outs = fn(views, c.at("attrs"));
  std::vector<Tensor> roots, ups;
  for (size_t i = 0; i < outs.size() && i < c.at("upstream").size(); ++i) {
    const auto& u = c.at("upstream")[i];
    if (u.is_null() || !outs[i].requires_grad()) continue;
    roots.push_back(outs[i]);
    ups.push_back(make_tensor(u, outs[i].dtype(), device));
  }
  if (!roots.empty()) run_backward(roots, ups, false);
  SideResult r;
  for (const Tensor& o : outs) r.outputs.push_back(o.detach().to(cpu_device()));
  const auto& gold_grads = c.at("grads");
  for (size_t k = 0; k < ins.size(); ++k)
    r.grads.push_back(k < gold_grads.size() && !gold_grads[k].is_null() ? logical_grad(ins[k]).to(cpu_device())
                                                                          : Tensor());
  return r;
}

// ---- test-only perturbed kernels -------------------------------------------

// Moves the first element of a floating tensor by 1% of (|x| + 1).
void nudge(const Tensor& t) {
  if (t.numel() == 0 || !is_floating(t.dtype())) return;
  dispatch_floating(t.dtype(), "nudge", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    p[0] += static_cast<T>(0.01) * (std::abs(p[0]) + static_cast<T>(1));
  });
}

binary_stub_fn real_binary = nullptr;
void nudged_binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  real_binary(op, out, a, b, alpha);
  nudge(out);
}

softmax_backward_stub_fn real_softmax_backward = nullptr;
void nudged_softmax_backward(Tensor& gx, const Tensor& g, const Tensor& y, int64_t outer, int64_t n, int64_t inner,
                             bool log) {
  real_softmax_backward(gx, g, y, outer, n, inner, log);
  nudge(gx);
}

// Installs the nudged kernel of `stub` on the CPU while alive.
class Perturbation {
 public:
  explicit Perturbation(const std::string& stub) : stub_(stub) {
    const int cpu = static_cast<int>(DeviceType::CPU);
    if (stub_ == "binary_stub") {
      real_binary = binary_stub.table[cpu];
      binary_stub.table[cpu] = &nudged_binary;
    } else if (stub_ == "softmax_backward_stub") {
      real_softmax_backward = softmax_backward_stub.table[cpu];
      softmax_backward_stub.table[cpu] = &nudged_softmax_backward;
    } else if (!stub_.empty()) {
      throw Error("parity: no test perturbation for '" + stub_ + "' (have binary_stub, softmax_backward_stub)");
    }
  }
  ~Perturbation() {
    const int cpu = static_cast<int>(DeviceType::CPU);
    if (stub_ == "binary_stub") binary_stub.table[cpu] = real_binary;
    if (stub_ == "softmax_backward_stub") softmax_backward_stub.table[cpu] = real_softmax_backward;
  }
  Perturbation(const Perturbation&) = delete;
  Perturbation& operator=(const Perturbation&) = delete;

 private:
  std::string stub_;
};

struct Row {
  int cases = 0, failed = 0;
  double out_err = 0, grad_err = 0;
};

}  // namespace

Device parse_device(const std::string& s) {
  if (s == "cpu") return cpu_device();
  if (s == "cuda") return Device{DeviceType::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device{DeviceType::CUDA, std::stoi(s.substr(5))};
  throw Error("parity: unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
}

int run_device_parity(const json& golden, const DeviceParityOptions& o) {
  if (!o.perturb.empty() && o.device != cpu_device())
    throw Error("parity: --perturb is a test of the comparison and needs --device cpu");
  const std::string dev = o.device.str();
  std::vector<std::string> missing;
  for (const StubInfo& s : all_stubs())
    if (!s.has_kernel(o.device.type)) missing.push_back(s.name);
  if (!missing.empty()) {
    std::cout << "device " << dev << " has no kernel for " << missing.size() << " of " << all_stubs().size()
              << " stubs:";
    for (const auto& m : missing) std::cout << " " << m;
    std::cout << "\n\n";
  }
  auto& reg = registry();
  std::map<std::string, Row> rows;
  std::vector<std::string> failures;
  int passed = 0, failed = 0;
  for (const auto& c : golden.at("cases")) {
    const std::string op = c.at("op"), id = c.at("id");
    if (!o.filter.empty() && op != o.filter) continue;
    Row& row = rows[op];
    row.cases++;
    std::vector<std::string> why_case;
    auto it = reg.find(op);
    try {
      if (it == reg.end()) throw Error("no C++ op registered under this name");
      SideResult ref = run_side(it->second, c, cpu_device());
      SideResult got;
      {
        Perturbation nudged(o.perturb);
        got = run_side(it->second, c, o.device);
      }
      const double tol = o.tol.value_or(c.at("tol").get<double>());
      const double gtol = o.tol.value_or(c.at("grad_tol").get<double>());
      auto compare = [&](const Tensor& a, const Tensor& b, double limit, const std::string& what, double& worst) {
        std::string why;
        const double e = rel_error(a, b, &why);
        worst = std::max(worst, e);
        if (!(e <= limit))
          why_case.push_back(what + " differs from cpu: rel error " + fmt(e) + (why.empty() ? "" : " (" + why + ")"));
      };
      if (got.outputs.size() != ref.outputs.size())
        why_case.push_back("returned " + std::to_string(got.outputs.size()) + " outputs on " + dev + ", " +
                           std::to_string(ref.outputs.size()) + " on cpu");
      for (size_t i = 0; i < got.outputs.size() && i < ref.outputs.size(); ++i)
        compare(got.outputs[i], ref.outputs[i], tol, "output " + std::to_string(i), row.out_err);
      for (size_t k = 0; k < ref.grads.size(); ++k)
        if (ref.grads[k].defined())
          compare(got.grads[k], ref.grads[k], gtol, "grad of input " + std::to_string(k), row.grad_err);
    } catch (const std::exception& e) {
      why_case.push_back(std::string("threw: ") + e.what());
    }
    for (const auto& w : why_case) failures.push_back(id + ": " + w);
    if (why_case.empty()) {
      passed++;
    } else {
      row.failed++;
      failed++;
    }
  }
  std::ostringstream t;
  t << "| op | cases | max rel err out | max rel err grad | status |\n|---|---|---|---|---|\n";
  for (const auto& [op, r] : rows)
    t << "| " << op << " | " << r.cases << " | " << fmt(r.out_err) << " | " << fmt(r.grad_err) << " | "
      << (r.failed ? "FAIL" : "ok") << " |\n";
  std::cout << "# " << dev << " against cpu" << (o.perturb.empty() ? "" : " (test: " + o.perturb + " nudged)")
            << "\n\n"
            << t.str();
  for (const auto& f : failures) std::cout << "FAILED " << f << "\n";
  std::cout << "\nparity --device " << dev << ": " << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace tessera::parity
