// Loss modules: options, buffers named as torch's, values on hand-computed
// inputs, and errors that name the module.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>

#include "tessera/nn/loss.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;


TEST(NnLoss, Values) {
  Tensor a = from_vector<float>({1, 2, 3, 4}, {2, 2}), b = from_vector<float>({1, 0, 5, 4}, {2, 2});
  EXPECT_FLOAT_EQ(nn::MSELoss()(a, b).item(), (0 + 4 + 4 + 0) / 4.0);
  EXPECT_FLOAT_EQ(nn::L1Loss("sum")(a, b).item(), 4.0);
  EXPECT_EQ(nn::L1Loss("none")(a, b).shape(), (Shape{2, 2}));

  // Two classes, logits (0, log 3): p = (1/4, 3/4).
  Tensor logits = from_vector<float>({0.f, std::log(3.f)}, {1, 2});
  Tensor target = from_vector<int64_t>({1}, {1});
  EXPECT_NEAR(nn::CrossEntropyLoss()(logits, target).item(), -std::log(0.75), 1e-6);
  nn::CrossEntropyLossOptions o;
  o.label_smoothing = 0.2;  // target distribution (0.1, 0.9)
  EXPECT_NEAR(nn::CrossEntropyLoss(o)(logits, target).item(), -(0.1 * std::log(0.25) + 0.9 * std::log(0.75)), 1e-6);
  o = {};
  o.ignore_index = 1;
  EXPECT_TRUE(std::isnan(nn::CrossEntropyLoss(o)(logits, target).item()));  // every target ignored: 0/0, as torch
  Tensor logp = from_vector<float>({-1.f, -2.f, -3.f, -4.f}, {2, 2});
  EXPECT_FLOAT_EQ(nn::NLLLoss()(logp, from_vector<int64_t>({0, 1}, {2})).item(), (1 + 4) / 2.0);

  // BCE with logits at x = 0: log 2 per element; pos_weight scales the positive term.
  nn::BCEWithLogitsLossOptions bo;
  bo.pos_weight = from_vector<float>({3.f}, {1});
  Tensor x0 = zeros({2, 1}), t = from_vector<float>({1.f, 0.f}, {2, 1});
  EXPECT_NEAR(nn::BCEWithLogitsLoss(bo)(x0, t).item(), (3 * std::log(2.0) + std::log(2.0)) / 2, 1e-6);
}

TEST(NnLoss, WeightsAreBuffersNamedAsTorch) {
  nn::CrossEntropyLossOptions o;
  o.weight = ones({3});
  nn::CrossEntropyLoss ce(o);
  EXPECT_EQ(ce.state_dict().count("weight"), 1u);
  EXPECT_TRUE(ce.named_parameters().empty());
  EXPECT_TRUE(nn::CrossEntropyLoss().state_dict().empty());
  nn::BCEWithLogitsLossOptions bo;
  bo.pos_weight = ones({3});
  nn::BCEWithLogitsLoss bce(bo);
  auto sd = bce.state_dict();
  EXPECT_EQ(sd.count("pos_weight"), 1u);
  EXPECT_EQ(sd.count("weight"), 0u);
}

TEST(NnLoss, GradientFlowsToLogits) {
  Tensor x = randn({4, 3});
  x.set_requires_grad(true);
  nn::CrossEntropyLoss()(x, from_vector<int64_t>({0, 2, 1, 2}, {4})).backward();
  ASSERT_TRUE(x.grad().defined());
  // Softmax gradients sum to zero over classes.
  auto g = sum(x.grad(), {1}).to_vector<double>();
  for (double v : g) EXPECT_NEAR(v, 0.0, 1e-6);
}

TEST(NnLoss, Errors) {
  std::string msg = error_of<Error>([] { nn::MSELoss("avg"); });
  EXPECT_TRUE(has(msg, "MSELoss") && has(msg, "avg")) << msg;
  nn::CrossEntropyLossOptions o;
  o.reduction = "total";
  EXPECT_THROW(nn::CrossEntropyLoss{o}, Error);
  o = {};
  o.label_smoothing = 1.5;
  EXPECT_THROW(nn::CrossEntropyLoss{o}, Error);

  msg = error_of<ShapeError>([] { nn::CrossEntropyLoss()(randn({2, 5}), zeros({3}, {.dtype = DType::I64})); });
  EXPECT_TRUE(has(msg, "CrossEntropyLoss") && has(msg, "[3]") && has(msg, "[2, 5]")) << msg;
  msg = error_of<IndexError>([] { nn::NLLLoss()(randn({2, 5}), from_vector<int64_t>({0, 7}, {2})); });
  EXPECT_TRUE(has(msg, "NLLLoss")) << msg;
  msg = error_of<DTypeError>([] { nn::CrossEntropyLoss()(randn({2, 5}), zeros({2})); });
  EXPECT_TRUE(has(msg, "CrossEntropyLoss")) << msg;
  EXPECT_THROW(nn::MSELoss()(randn({2, 3}), randn({4, 5})), ShapeError);
}
