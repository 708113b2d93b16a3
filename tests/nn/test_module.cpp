// Module system: names, state_dict round trip, strict loading errors, freezing, train/eval.
#include <gtest/gtest.h>

#include "tessera/nn/layers.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {
std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.1),
      std::make_shared<nn::Linear>(8, 2, false)});
}
}  // namespace

TEST(Module, HierarchicalNamesMatchTorch) {
  auto m = make_mlp();
  std::vector<std::string> names;
  for (auto& [n, t] : m->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "3.weight"}));
  EXPECT_EQ(m->num_parameters(), 4 * 8 + 8 + 8 * 2);
}

TEST(Module, NamedModulesAreTorchNames) {
  // torch: [n for n, _ in nn.Sequential(nn.Sequential(a, b), c).named_modules()]
  //   == ['', '0', '0.0', '0.1', '1'] (no trailing dots), each equal to the module's path.
  auto outer = std::make_shared<nn::Sequential>();
  auto inner = std::make_shared<nn::Sequential>();
  inner->push_back(std::make_shared<nn::Linear>(2, 2));
  inner->push_back(std::make_shared<nn::ReLU>());
  outer->push_back(inner);
  outer->push_back(std::make_shared<nn::Linear>(2, 1));
  std::vector<std::string> names;
  for (auto& [n, mod] : outer->named_modules()) {
    names.push_back(n);
    EXPECT_EQ(mod->path(), n);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"", "0", "0.0", "0.1", "1"}));
  // Relative to the module asked: the inner list names its children from "".
  std::vector<std::string> inner_names;
  for (auto& [n, mod] : inner->named_modules()) inner_names.push_back(n);
  EXPECT_EQ(inner_names, (std::vector<std::string>{"", "0", "1"}));
}

TEST(Module, StateDictRoundTripAndStrictErrors) {
  manual_seed(1);
  auto a = make_mlp();
  manual_seed(2);
  auto b = make_mlp();
  Tensor x = randn({3, 4});
  a->eval();
  b->eval();
  EXPECT_NE(a->forward(x).to_vector<float>(), b->forward(x).to_vector<float>());
  b->load_state_dict(a->state_dict());
  EXPECT_EQ(a->forward(x).to_vector<float>(), b->forward(x).to_vector<float>());

  auto sd = a->state_dict();
  sd.erase("0.bias");
  sd["extra.weight"] = zeros({1});
  sd["3.weight"] = zeros({3, 8});
  try {
    b->load_state_dict(sd);
    FAIL() << "expected an error";
  } catch (const ShapeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("missing keys (1): 0.bias"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected keys (1): extra.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3.weight: checkpoint [3, 8] vs model [2, 8]"), std::string::npos) << msg;
  }
  sd["3.weight"] = zeros({2, 8});
  EXPECT_NO_THROW(b->load_state_dict(sd, /*strict=*/false));
}

TEST(Module, FreezeTrainEvalZeroGrad) {
  auto m = make_mlp();
  m->requires_grad_(false);
  for (auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
  m->requires_grad_(true);
  sum((*m)(randn({2, 4}))).backward();
  for (auto& p : m->parameters()) EXPECT_TRUE(p.grad().defined());
  m->zero_grad();
  for (auto& p : m->parameters()) EXPECT_FALSE(p.grad().defined());
  m->eval();
  int count = 0;
  m->apply([&](const std::string&, nn::Module& mod) { count += mod.is_training() ? 0 : 1; });
  EXPECT_EQ(count, 5);
}

TEST(Module, WrongInputShapeNamesModule) {
  nn::Linear l(4, 3);
  try {
    l(randn({2, 5}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("Linear (4 -> 3): input of shape [2, 5]"), std::string::npos) << e.what();
  }
  // Inside a model the error names the module's path.
  auto m = make_mlp();
  try {
    (*m)(randn({2, 5}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("Linear '0' (4 -> 8): input of shape [2, 5]"), std::string::npos) << e.what();
  }
  auto outer = std::make_shared<nn::Sequential>();
  outer->push_back(make_mlp());
  EXPECT_EQ(outer->named_modules().back().second->path(), "0.3");
  EXPECT_THROW(l.parameter("nope"), Error);
}

TEST(Init, DefaultLinearInitMatchesTorchDistribution) {
  manual_seed(0);
  nn::Linear l(400, 300);
  auto w = l.weight.to_vector<float>();
  double bound = 1.0 / 20.0, mx = 0, mean = 0;
  for (float v : w) {
    mx = std::max(mx, std::abs(double(v)));
    mean += v;
  }
  mean /= w.size();
  EXPECT_LE(mx, bound);
  EXPECT_GT(mx, 0.99 * bound);
  EXPECT_NEAR(mean, 0.0, 0.002);
  // Same seed, same weights.
  manual_seed(0);
  nn::Linear l2(400, 300);
  EXPECT_EQ(l2.weight.to_vector<float>(), w);
}
