#include "case_inputs.h"

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

using nlohmann::json;

namespace tessera::parity {

namespace {

double decode(const json& v) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    return s == "inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
  return v.get<double>();
}

}  // namespace

DType dtype_of_spec(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f64") return DType::F64;
  if (s == "i64") return DType::I64;
  if (s == "bool") return DType::Bool;
  throw Error("parity: unknown dtype " + s);
}

Tensor make_tensor(const json& spec, DType dt, Device device) {
  Shape shape = spec.at("shape").get<Shape>();
  std::vector<double> v;
  for (const auto& x : spec.at("data")) v.push_back(decode(x));
  return from_vector<double>(v, shape, {.dtype = DType::F64}).to(dt).to(device);
}

Input make_input(const json& spec, DType dt, bool as_leaf_grad, Device device) {
  Tensor x = make_tensor(spec, dt, device);
  std::string layout = spec.value("layout", "contig");
  Input in{x, x, layout};
  if (layout == "t" && x.dim() >= 2) {
    Tensor store = x.transpose(-1, -2).contiguous();
    if (as_leaf_grad) store.set_requires_grad(true);
    in.leaf = store;
    in.view = store.transpose(-1, -2);
  } else if (layout == "slice" && x.dim() >= 1) {
    Shape bs = x.shape();
    int64_t n = bs.back();
    bs.back() = 2 * n;
    Tensor base = zeros(bs, {.dtype = dt, .device = device});
    base.slice(-1, 0, 2 * n, 2).copy_(x);
    if (as_leaf_grad) base.set_requires_grad(true);
    in.leaf = base;
    in.view = base.slice(-1, 0, 2 * n, 2);
  } else {
    if (as_leaf_grad) x.set_requires_grad(true);
  }
  return in;
}

Tensor logical_grad(const Input& in) {
  Tensor g = in.leaf.grad();
  if (!g.defined()) return zeros(in.view.shape(), {.dtype = in.view.dtype(), .device = in.view.device()});
  if (in.layout == "t" && g.dim() >= 2) return g.transpose(-1, -2);
  if (in.layout == "slice" && g.dim() >= 1) return g.slice(-1, 0, g.size(-1), 2);
  return g;
}

double rel_error(const Tensor& a, const Tensor& ref, std::string* why) {
  if (a.shape() != ref.shape()) {
    *why = "shape " + shape_str(a.shape()) + " vs reference " + shape_str(ref.shape());
    return std::numeric_limits<double>::infinity();
  }
  auto x = (a.dtype() == DType::Bool ? a.to(DType::I64) : a).to_vector<double>();
  auto y = (ref.dtype() == DType::Bool ? ref.to(DType::I64) : ref).to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(y[i]) || std::isinf(y[i])) {
      bool same = std::isnan(y[i]) ? std::isnan(x[i]) : x[i] == y[i];
      if (!same) {
        *why = "non-finite mismatch at element " + std::to_string(i);
        return std::numeric_limits<double>::infinity();
      }
      continue;
    }
    if (!std::isfinite(x[i])) {
      *why = "non-finite value at element " + std::to_string(i);
      return std::numeric_limits<double>::infinity();
    }
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  if (diff == 0) return 0;
  return diff / std::max(scale, 1e-6);
}

std::string fmt(double v) {
  if (v == 0) return "0";
  std::ostringstream os;
  os << std::scientific << std::setprecision(1) << v;
  return os.str();
}

}  // namespace tessera::parity
