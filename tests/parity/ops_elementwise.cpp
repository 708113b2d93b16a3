// Parity registrations: elementwise ops and views.
#include <optional>

#include "registry.h"

namespace {
using namespace tessera;
using parity::attr;
std::optional<double> opt(const nlohmann::json& a, const char* k) {
  return a.at(k).is_null() ? std::nullopt : std::optional<double>(a.at(k).get<double>());
}
}  // namespace

PARITY_OP(add) { return {add(in[0], in[1])}; }
PARITY_OP(sub) { return {sub(in[0], in[1])}; }
PARITY_OP(mul) { return {mul(in[0], in[1])}; }
PARITY_OP(div) { return {div(in[0], in[1])}; }
PARITY_OP(add_alpha) { return {add(in[0], in[1], attr<double>(attrs, "alpha"))}; }
PARITY_OP(sub_alpha) { return {sub(in[0], in[1], attr<double>(attrs, "alpha"))}; }
PARITY_OP(add_scalar) { return {in[0] + attr<double>(attrs, "s")}; }
PARITY_OP(mul_scalar) { return {in[0] * attr<double>(attrs, "s")}; }
PARITY_OP(neg) { return {neg(in[0])}; }
PARITY_OP(exp) { return {exp(in[0])}; }
PARITY_OP(log) { return {log(in[0])}; }
PARITY_OP(sqrt) { return {sqrt(in[0])}; }
PARITY_OP(rsqrt) { return {rsqrt(in[0])}; }
PARITY_OP(abs) { return {abs(in[0])}; }
PARITY_OP(pow) { return {pow(in[0], attr<double>(attrs, "e"))}; }
PARITY_OP(pow_tensor) { return {pow(in[0], in[1])}; }
PARITY_OP(clamp) { return {clamp(in[0], opt(attrs, "lo"), opt(attrs, "hi"))}; }
PARITY_OP(maximum) { return {maximum(in[0], in[1])}; }
PARITY_OP(minimum) { return {minimum(in[0], in[1])}; }
PARITY_OP(eq) { return {eq(in[0], in[1])}; }
PARITY_OP(ne) { return {ne(in[0], in[1])}; }
PARITY_OP(lt) { return {lt(in[0], in[1])}; }
PARITY_OP(le) { return {le(in[0], in[1])}; }
PARITY_OP(gt) { return {gt(in[0], in[1])}; }
PARITY_OP(ge) { return {ge(in[0], in[1])}; }

PARITY_OP(view) { return {in[0].view(attr<Shape>(attrs, "shape"))}; }
PARITY_OP(reshape) { return {in[0].reshape(attr<Shape>(attrs, "shape"))}; }
PARITY_OP(transpose) { return {in[0].transpose(attr<int64_t>(attrs, "d0"), attr<int64_t>(attrs, "d1"))}; }
PARITY_OP(permute) { return {in[0].permute(attr<std::vector<int64_t>>(attrs, "dims"))}; }
PARITY_OP(slice) {
  return {in[0].slice(attr<int64_t>(attrs, "dim"), attr<int64_t>(attrs, "start"), attr<int64_t>(attrs, "end"),
                      attr<int64_t>(attrs, "step"))};
}
PARITY_OP(narrow) {
  return {in[0].narrow(attr<int64_t>(attrs, "dim"), attr<int64_t>(attrs, "start"), attr<int64_t>(attrs, "length"))};
}
PARITY_OP(select) { return {in[0].select(attr<int64_t>(attrs, "dim"), attr<int64_t>(attrs, "index"))}; }
PARITY_OP(unsqueeze) { return {in[0].unsqueeze(attr<int64_t>(attrs, "dim"))}; }
PARITY_OP(squeeze) { return {in[0].squeeze(attr<int64_t>(attrs, "dim"))}; }
PARITY_OP(expand) { return {in[0].expand(attr<Shape>(attrs, "shape"))}; }
PARITY_OP(flatten) { return {in[0].flatten(attr<int64_t>(attrs, "start"), attr<int64_t>(attrs, "end"))}; }
PARITY_OP(contiguous) { return {in[0].contiguous()}; }
PARITY_OP(clone) { return {in[0].clone()}; }
PARITY_OP(to_f64) { return {in[0].to(DType::F64)}; }
