// Registry of Tessera ops for the parity harness. Each entry maps the op name
// used in tests/parity/cases/*.py to a C++ call on the case's inputs and
// attributes. Register with
//   PARITY_OP(relu) { return {relu(in[0])}; }
// where `in` is the input vector and `attrs` the case's attribute JSON.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tessera/tessera.h"

namespace tessera::parity {

using OpFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& in, const nlohmann::json& attrs)>;

std::map<std::string, OpFn>& registry();

struct Registrar {
  Registrar(const char* name, OpFn fn) { registry()[name] = std::move(fn); }
};

// Attribute access with a clear error when a case lacks one.
template <typename T>
T attr(const nlohmann::json& attrs, const char* key) {
  if (!attrs.contains(key)) throw Error(std::string("parity case is missing attribute '") + key + "'");
  return attrs.at(key).get<T>();
}
template <typename T>
T attr_or(const nlohmann::json& attrs, const char* key, T fallback) {
  return attrs.contains(key) && !attrs.at(key).is_null() ? attrs.at(key).get<T>() : fallback;
}

}  // namespace tessera::parity

#define PARITY_OP(name)                                                                                     \
  static std::vector<::tessera::Tensor> parity_op_##name(const std::vector<::tessera::Tensor>& in,         \
                                                         const nlohmann::json& attrs);                      \
  static ::tessera::parity::Registrar parity_reg_##name(#name, parity_op_##name);                           \
  static std::vector<::tessera::Tensor> parity_op_##name(const std::vector<::tessera::Tensor>& in,         \
                                                         [[maybe_unused]] const nlohmann::json& attrs)

#include "tessera/nn/module.h"

namespace tessera::parity {

// For module cases: bind in[first], in[first+1], ... to the module's
// parameters named in attrs["params"] (the case's leaves, so their gradients
// are the ones compared), and set train/eval mode from attrs["train"].
inline void bind_params(nn::Module& m, const std::vector<Tensor>& in, size_t first, const nlohmann::json& attrs) {
  auto names = attrs.at("params").get<std::vector<std::string>>();
  if (first + names.size() != in.size())
    throw Error("parity: module case has " + std::to_string(in.size() - first) + " parameter inputs for " +
                std::to_string(names.size()) + " parameter names");
  for (size_t i = 0; i < names.size(); ++i) m.set_parameter(names[i], in[first + i]);
  m.train(attrs.value("train", false));
  auto own = m.named_parameters();
  if (own.size() != names.size())
    throw Error("parity: " + m.type_name() + " has " + std::to_string(own.size()) + " parameters, torch's has " +
                std::to_string(names.size()));
}

}  // namespace tessera::parity
