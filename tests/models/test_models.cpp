// Models: output shapes, torch-style parameter names, config errors.
#include <gtest/gtest.h>

#include "tessera/models/cnn.h"
#include "tessera/models/factory.h"
#include "tessera/models/mlp.h"
#include "tessera/models/vit.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

bool has_param(nn::Module& m, const std::string& name) {
  for (auto& [n, t] : m.named_parameters()) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

TEST(Models, ShapesAndNames) {
  manual_seed(0);
  Tensor x = rand({2, 1, 28, 28});
  auto mlp = models::build_model(R"({"type": "mlp", "hidden": [32, 16], "dropout": 0.1})", {1, 28, 28}, 10);
  EXPECT_EQ(mlp->forward(x).shape(), (Shape{2, 10}));
  EXPECT_TRUE(has_param(*mlp, "1.weight"));  // as torch Sequential(Flatten, Linear, ReLU, Dropout, ...)
  EXPECT_TRUE(has_param(*mlp, "4.weight"));
  auto lenet = models::build_model(R"({"type": "lenet5"})", {1, 28, 28}, 10);
  EXPECT_EQ(lenet->forward(x).shape(), (Shape{2, 10}));
  EXPECT_EQ(lenet->parameter("fc1.weight").shape(), (Shape{120, 400}));
  auto cnn = models::build_model(R"({"type": "cnn", "channels": [4, 8], "hidden": 16})", {1, 28, 28}, 10);
  EXPECT_EQ(cnn->forward(x).shape(), (Shape{2, 10}));
  EXPECT_EQ(cnn->parameter("fc1.weight").shape(), (Shape{16, 8 * 7 * 7}));
  EXPECT_TRUE(has_param(*cnn, "convs.1.weight"));
  auto vit = models::build_model(R"({"type": "vit", "patch_size": 7, "dim": 16, "depth": 2, "heads": 2, "mlp_dim": 32})",
                                 {1, 28, 28}, 10);
  Tensor y = vit->forward(x);
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
  EXPECT_EQ(vit->parameter("pos_embed").shape(), (Shape{1, 17, 16}));
  EXPECT_TRUE(has_param(*vit, "encoder.layers.1.self_attn.in_proj_weight"));
  EXPECT_TRUE(has_param(*vit, "cls_token"));
  // Gradients reach every ViT parameter.
  sum(y).backward();
  for (auto& [n, p] : vit->named_parameters()) EXPECT_TRUE(p.grad().defined()) << n;
}

TEST(Models, ConfigErrorsNameTheKey) {
  try {
    models::build_model(R"({"type": "mlp", "hiden": [3]})", {4}, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hiden"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::build_model(R"({"type": "resnet"})", {4}, 2), Error);
  EXPECT_THROW(models::build_model(R"({"type": "cnn"})", {4}, 2), ShapeError);
  EXPECT_THROW(models::build_model(R"({"type": "vit", "patch_size": 5})", {1, 28, 28}, 10), ShapeError);
  EXPECT_THROW(models::build_model("{not json", {4}, 2), Error);
}
