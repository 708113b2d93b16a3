// The parity harness runner. For every case in the golden file (written by
// gen_golden.py with PyTorch) it rebuilds the inputs, including non-contiguous
// layouts, runs the Tessera op, and compares the outputs and the gradient of
// every input with torch's. Then it checks the same gradients in float64 by
// central differences. It prints one table row per op and exits non-zero on
// any failure, any registered op without cases, or any case without an op.
// With --device D it compares device D against the CPU instead (device_parity.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "case_inputs.h"
#include "device_parity.h"
#include "registry.h"

using nlohmann::json;
using namespace tessera;
using namespace tessera::parity;

namespace {

struct OpRow {
  std::string family;
  int cases = 0, failed = 0;
  double fwd = 0;
  std::vector<double> grad;  // per input position
  int gc_total = 0, gc_failed = 0;
  double tol = 1e-5;
  std::set<std::string> whys;
  std::vector<std::string> failures;
};

std::vector<Tensor> run_op(const parity::OpFn& fn, const std::vector<Tensor>& in, const json& attrs) {
  return fn(in, attrs);
}

// float64 central differences of L = sum_i <out_i, up_i> against backward.
bool gradcheck(const parity::OpFn& fn, const json& c, std::string* why, double* worst) {
  std::vector<Tensor> ins;
  std::vector<bool> diff;
  for (const auto& s : c.at("inputs")) {
    DType dt = dtype_of_spec(s.at("dtype"));
    bool d = s.at("requires_grad").get<bool>() && is_floating(dt);
    Tensor x = make_tensor(s, is_floating(dt) ? DType::F64 : dt);
    if (d) x.set_requires_grad(true);
    ins.push_back(x);
    diff.push_back(d);
  }
  std::vector<Tensor> ups;
  for (const auto& u : c.at("upstream")) ups.push_back(u.is_null() ? Tensor() : make_tensor(u, DType::F64));
  auto loss = [&](const std::vector<Tensor>& xs) {
    auto outs = run_op(fn, xs, c.at("attrs"));
    double l = 0;
    for (size_t i = 0; i < outs.size() && i < ups.size(); ++i) {
      if (!ups[i].defined()) continue;
      l += sum(mul(outs[i].to(DType::F64), ups[i])).item();
    }
    return l;
  };
  // Analytic.
  auto outs = run_op(fn, ins, c.at("attrs"));
  std::vector<Tensor> roots, grads;
  for (size_t i = 0; i < outs.size() && i < ups.size(); ++i)
    if (ups[i].defined() && outs[i].requires_grad()) {
      roots.push_back(outs[i]);
      grads.push_back(ups[i].to(outs[i].dtype()));
    }
  if (roots.empty()) return true;
  run_backward(roots, grads, false);
  NoGradGuard ng;
  const double h = 1e-6, atol = 1e-5, rtol = 1e-3;
  *worst = 0;
  for (size_t k = 0; k < ins.size(); ++k) {
    if (!diff[k]) continue;
    Tensor ana = ins[k].grad().defined() ? ins[k].grad() : zeros_like(ins[k]);
    auto av = ana.to_vector<double>();
    double* p = ins[k].data<double>();
    int64_t n = ins[k].numel();
    int64_t step = std::max<int64_t>(1, n / 200);  // at most ~200 probes per input
    for (int64_t j = 0; j < n; j += step) {
      double orig = p[j];
      p[j] = orig + h;
      double lp = loss(ins);
      p[j] = orig - h;
      double lm = loss(ins);
      p[j] = orig;
      double num = (lp - lm) / (2 * h);
      double err = std::abs(num - av[j]);
      *worst = std::max(*worst, err / (atol + rtol * std::abs(num)));
      if (err > atol + rtol * std::abs(num)) {
        std::ostringstream os;
        os << "input " << k << " element " << j << ": numeric " << num << " vs analytic " << av[j];
        *why = os.str();
        return false;
      }
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string golden, table_path, filter, device, perturb;
  std::optional<double> device_tol;
  bool do_gradcheck = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--golden" && i + 1 < argc) golden = argv[++i];
    else if (a == "--table" && i + 1 < argc) table_path = argv[++i];
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--no-gradcheck") do_gradcheck = false;
    else if (a == "--threads" && i + 1 < argc) set_num_threads(std::stoi(argv[++i]));
    else if (a == "--device" && i + 1 < argc) device = argv[++i];
    else if (a == "--device-tol" && i + 1 < argc) device_tol = std::stod(argv[++i]);
    else if (a == "--perturb" && i + 1 < argc) perturb = argv[++i];
    else {
      std::cerr << "usage: parity --golden FILE [--table FILE] [--filter OP] [--no-gradcheck] [--threads N]\n"
                   "       parity --golden FILE --device D [--filter OP] [--device-tol T] [--threads N]\n"
                   "              (D against the CPU, op by op; --perturb STUB: test-only, device cpu)\n";
      return 2;
    }
  }
  std::ifstream f(golden);
  if (!f) {
    std::cerr << "parity: cannot open golden file '" << golden << "' (run tests/parity/gen_golden.py --out FILE)\n";
    return 2;
  }
  json doc;
  try {
    doc = json::parse(f);
  } catch (const std::exception& e) {
    std::cerr << "parity: " << golden << ": " << e.what() << "\n";
    return 2;
  }
  if (!device.empty()) {
    try {
      return run_device_parity(doc, {parse_device(device), filter, device_tol, perturb});
    } catch (const std::exception& e) {
      std::cerr << "parity: " << e.what() << "\n";
      return 2;
    }
  }
  auto& reg = parity::registry();
  std::map<std::string, OpRow> rows;
  int passed = 0, failed = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& c : doc.at("cases")) {
    std::string op = c.at("op"), id = c.at("id");
    if (!filter.empty() && op != filter) continue;
    OpRow& row = rows[op];
    row.family = c.value("family", "");
    row.cases++;
    row.tol = std::max(row.tol, c.at("tol").get<double>());
    if (!c.value("why", std::string()).empty()) row.whys.insert(c.at("why").get<std::string>());
    auto fail = [&](const std::string& msg) {
      row.failed++;
      row.failures.push_back(id + ": " + msg);
    };
    auto it = reg.find(op);
    if (it == reg.end()) {
      fail("no C++ op registered under this name");
      failed++;
      continue;
    }
    bool ok = true;
    try {
      std::vector<Input> ins;
      std::vector<Tensor> views;
      for (const auto& s : c.at("inputs")) {
        DType dt = dtype_of_spec(s.at("dtype"));
        ins.push_back(make_input(s, dt, s.at("requires_grad").get<bool>() && is_floating(dt)));
        views.push_back(ins.back().view);
      }
      auto outs = run_op(it->second, views, c.at("attrs"));
      const auto& gold_outs = c.at("outputs");
      if (outs.size() != gold_outs.size()) {
        fail("op returned " + std::to_string(outs.size()) + " outputs, torch " + std::to_string(gold_outs.size()));
        ok = false;
      }
      double tol = c.at("tol"), gtol = c.at("grad_tol");
      std::vector<Tensor> roots, ups;
      for (size_t i = 0; ok && i < outs.size(); ++i) {
        Tensor ref = make_tensor(gold_outs[i], dtype_of_spec(gold_outs[i].at("dtype")));
        std::string why;
        double e = rel_error(outs[i], ref, &why);
        row.fwd = std::max(row.fwd, e);
        if (!(e <= tol)) {
          fail("output " + std::to_string(i) + " rel error " + fmt(e) + (why.empty() ? "" : " (" + why + ")"));
          ok = false;
        }
        const auto& u = c.at("upstream")[i];
        if (!u.is_null()) {
          if (!outs[i].requires_grad()) {
            fail("output " + std::to_string(i) + " has no gradient history but torch's does");
            ok = false;
          } else {
            roots.push_back(outs[i]);
            ups.push_back(make_tensor(u, outs[i].dtype()));
          }
        }
      }
      if (ok && !roots.empty()) {
        run_backward(roots, ups, false);
        const auto& gold_grads = c.at("grads");
        if (row.grad.size() < ins.size()) row.grad.resize(ins.size(), -1);
        for (size_t k = 0; k < ins.size(); ++k) {
          if (gold_grads[k].is_null()) continue;
          Tensor ref = make_tensor(gold_grads[k], ins[k].view.dtype());
          std::string why;
          double e = rel_error(logical_grad(ins[k]), ref, &why);
          row.grad[k] = std::max(row.grad[k], e);
          if (!(e <= gtol)) {
            fail("grad of input " + std::to_string(k) + " rel error " + fmt(e) + (why.empty() ? "" : " (" + why + ")"));
            ok = false;
          }
        }
      }
      if (do_gradcheck && c.at("gradcheck").get<bool>()) {
        std::string why;
        double worst = 0;
        row.gc_total++;
        if (!gradcheck(it->second, c, &why, &worst)) {
          row.gc_failed++;
          fail("float64 gradcheck: " + why);
          ok = false;
        }
      }
    } catch (const std::exception& e) {
      fail(std::string("threw: ") + e.what());
      ok = false;
    }
    (ok ? passed : failed)++;
  }
  // Every registered op must have cases.
  if (filter.empty())
    for (const auto& [name, fn] : reg)
      if (!rows.count(name)) {
        rows[name].failures.push_back(name + ": registered in C++ but has no parity case");
        rows[name].failed++;
        failed++;
      }

  std::ostringstream t;
  t << "| op | family | cases | max rel err fwd | max rel err grad (per input) | tol | f64 gradcheck | status |\n";
  t << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& [op, r] : rows) {
    std::string g;
    for (size_t k = 0; k < r.grad.size(); ++k)
      if (r.grad[k] >= 0) g += (g.empty() ? "" : ", ") + std::string("in") + std::to_string(k) + " " + fmt(r.grad[k]);
    if (g.empty()) g = "n/a";
    std::string gc = r.gc_total == 0 ? "n/a"
                                     : (r.gc_failed ? "FAIL " : "pass ") +
                                           std::to_string(r.gc_total - r.gc_failed) + "/" + std::to_string(r.gc_total);
    t << "| " << op << " | " << r.family << " | " << r.cases << " | " << fmt(r.fwd) << " | " << g << " | "
      << fmt(r.tol) << " | " << gc << " | " << (r.failed ? "FAIL" : "ok") << " |\n";
  }
  std::ostringstream notes;
  for (const auto& [op, r] : rows)
    for (const auto& w : r.whys) notes << "- " << op << ": tolerance " << fmt(r.tol) << " because " << w << "\n";
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << t.str();
  if (!notes.str().empty()) std::cout << "\nLooser tolerances:\n" << notes.str();
  for (const auto& [op, r] : rows)
    for (const auto& m : r.failures) std::cout << "FAILED " << m << "\n";
  if (!table_path.empty()) {
    std::ofstream out(table_path);
    out << "# Parity with PyTorch " << doc.value("torch_version", std::string("?")) << "\n\n"
        << "Relative error = max|tessera - torch| / max|torch| over each tensor (infinity norm). Gradients use a "
           "random upstream gradient from torch. f64 gradcheck: central differences (h=1e-6, atol 1e-5, rtol 1e-3) "
           "against the analytic gradient in float64.\n\n"
        << t.str() << (notes.str().empty() ? "" : "\nLooser tolerances:\n" + notes.str()) << "\n"
        << passed << " cases passed, " << failed << " failed, " << std::fixed << std::setprecision(1) << secs
        << " s\n";
  }
  std::cout << "\nparity: " << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
