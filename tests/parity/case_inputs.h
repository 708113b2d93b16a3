// Rebuilding a golden case's tensors (tests/parity/gen_golden.py writes them)
// and comparing results: shared by the torch comparison (parity_main.cpp) and
// the device comparison (device_parity.cpp).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "tessera/tessera.h"

namespace tessera::parity {

DType dtype_of_spec(const std::string& s);
// The tensor a spec ({"shape", "data"}) describes, as dtype dt on `device`.
Tensor make_tensor(const nlohmann::json& spec, DType dt, Device device = cpu_device());

// One input of a case: the tensor the op sees (`view`, in the spec's layout:
// contiguous, transposed or a strided slice) and the leaf its gradient lands in.
struct Input {
  Tensor leaf;
  Tensor view;
  std::string layout;
};
Input make_input(const nlohmann::json& spec, DType dt, bool as_leaf_grad, Device device = cpu_device());
// The gradient with respect to the view (zeros when none reached it).
Tensor logical_grad(const Input& in);

// max|a - ref| / max|ref| (infinity-norm relative error); NaN/inf must coincide
// (otherwise infinity, with the reason in *why).
double rel_error(const Tensor& a, const Tensor& ref, std::string* why);

// Scientific notation with one decimal, "0" for zero: the tables' number format.
std::string fmt(double v);

}  // namespace tessera::parity
