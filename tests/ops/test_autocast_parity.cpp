// bf16 autocast against PyTorch's (torch.autocast("cpu", torch.bfloat16)) on
// the same inputs: linear, matmul and conv2d, forward and every gradient.
// Golden file: tests/ops/gen_autocast_golden.py (env TESSERA_AUTOCAST_GOLDEN;
// ctest's autocast_parity makes it).
//
// Tolerance. torch returns bf16 tensors (the float32 accumulator rounded);
// Tessera keeps the float32 accumulator. So each of our values, rounded to
// bf16, must be within 1 bf16 ulp of torch's (plus 1e-5 of the tensor's
// largest value, for sums that cancel), and at least 90% of them identical:
// only the float32 summation order differs. The same ops in fp32 (operands
// not rounded) fail the 90% rule, which the last test checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "backends/cpu/bf16_convert.h"
#include "tessera/tessera.h"

using namespace tessera;
using nlohmann::json;

namespace {

const json* golden() {
  static std::unique_ptr<json> g = [] {
    const char* path = std::getenv("TESSERA_AUTOCAST_GOLDEN");
    if (!path || !*path) return std::unique_ptr<json>();
    std::ifstream in(path);
    if (!in) throw Error(std::string("TESSERA_AUTOCAST_GOLDEN: cannot open ") + path);
    return std::make_unique<json>(json::parse(in));
  }();
  return g.get();
}

#define REQUIRE_GOLDEN()                                                                              \
  if (!golden())                                                                                      \
  GTEST_SKIP() << "TESSERA_AUTOCAST_GOLDEN is not set: generate it with /work/main/.venv-ref/bin/python " \
                  "tests/ops/gen_autocast_golden.py --out <file> (ctest's autocast_parity does this)"

struct Agreement {
  double identical = 1;  // fraction of values whose bf16 rounding equals torch's
  double worst = 0;      // largest |bf16(ours) - torch| / (1 ulp + slack)
};

Agreement compare(const std::vector<float>& ours, const std::vector<float>& torch_values) {
  EXPECT_EQ(ours.size(), torch_values.size());
  double top = 0;
  for (float t : torch_values) top = std::max(top, double(std::fabs(t)));
  Agreement a;
  size_t same = 0;
  for (size_t i = 0; i < ours.size() && i < torch_values.size(); ++i) {
    const float r = cpu::bf16_to_float(cpu::round_to_bf16(ours[i])), t = torch_values[i];
    if (r == t) ++same;
    int e = 0;
    std::frexp(std::max(std::fabs(t), 1e-30f), &e);
    const double ulp = std::ldexp(1.0, e - 8);  // bf16 keeps 8 significant bits
    a.worst = std::max(a.worst, std::fabs(double(r) - t) / (ulp + 1e-5 * top));
  }
  a.identical = ours.empty() ? 1.0 : double(same) / double(ours.size());
  return a;
}

Tensor input(const json& j) {
  Tensor t = from_vector(j["values"].get<std::vector<float>>(), j["shape"].get<Shape>());
  t.set_requires_grad(true);
  return t;
}

// Runs one golden case under `precision`; returns the agreement of the output and of each gradient.
std::vector<std::pair<std::string, Agreement>> run_case(const json& c, Precision precision) {
  std::vector<Tensor> in;
  for (const auto& j : c["inputs"]) in.push_back(input(j));
  const std::string op = c["op"];
  AutocastGuard autocast(precision);
  Tensor y;
  if (op == "linear") y = linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor());
  else if (op == "matmul") y = matmul(in[0], in[1]);
  else if (op == "conv2d")
    y = conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), c["stride"].get<Pair>(), c["padding"].get<Pair>());
  else throw Error("unknown op " + op);
  EXPECT_EQ(y.shape(), c["output"]["shape"].get<Shape>());
  y.backward(from_vector(c["grad_output"].get<std::vector<float>>(), y.shape()));
  std::vector<std::pair<std::string, Agreement>> out;
  out.emplace_back("output", compare(y.to_vector<float>(), c["output"]["values"].get<std::vector<float>>()));
  for (size_t i = 0; i < in.size(); ++i)
    out.emplace_back("grad of input " + std::to_string(i),
                     compare(in[i].grad().to_vector<float>(), c["grads"][i].get<std::vector<float>>()));
  return out;
}

}  // namespace

TEST(AutocastParity, MatchesTorchBf16AutocastForwardAndGradients) {
  REQUIRE_GOLDEN();
  for (const auto& c : (*golden())["cases"]) {
    for (const auto& [what, a] : run_case(c, Precision::bf16)) {
      std::printf("%-16s %-16s identical %5.1f%%  worst %.2f ulp\n", c["name"].get<std::string>().c_str(),
                  what.c_str(), 100 * a.identical, a.worst);
      EXPECT_LE(a.worst, 1.0) << c["name"] << " " << what;
      EXPECT_GE(a.identical, 0.9) << c["name"] << " " << what;
    }
  }
}

TEST(AutocastParity, Fp32IsDistinguishable) {
  // The rule above is tight enough to see whether the operands were rounded.
  REQUIRE_GOLDEN();
  for (const auto& c : (*golden())["cases"]) {
    const auto results = run_case(c, Precision::fp32);
    EXPECT_LT(results[0].second.identical, 0.9) << c["name"] << ": fp32 output passes for torch's bf16";
  }
}
