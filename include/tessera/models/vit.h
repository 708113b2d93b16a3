// ViT-style image classifier (Dosovitskiy et al. 2021, sized for MNIST):
// a Conv2d with stride = kernel = patch cuts the image into patch embeddings,
// a learned class token is prepended, learned position embeddings are added,
// a pre-norm TransformerEncoder mixes the tokens, and a LayerNorm + Linear
// head reads the class token. Parameter names: patch_embed.weight,
// cls_token (1, 1, D), pos_embed (1, 1 + P, D), encoder.layers.0..., norm.*, head.*.
#pragma once
#include "tessera/nn/conv.h"
#include "tessera/nn/transformer.h"

namespace tessera::models {

struct ViTOptions {
  int64_t in_channels = 1;
  int64_t height = 28, width = 28;
  int64_t num_classes = 10;
  int64_t patch_size = 7;
  int64_t dim = 64;
  int64_t depth = 4;
  int64_t heads = 4;
  int64_t mlp_dim = 128;
  double dropout = 0.1;
  std::string activation = "gelu";
};

class ViT : public nn::Module {
 public:
  explicit ViT(const ViTOptions& o);
  Tensor forward(const Tensor& x) override;  // (N, C, H, W) -> (N, classes)
  int64_t num_patches() const { return num_patches_; }
  ViTOptions options;
  std::shared_ptr<nn::Conv2d> patch_embed;
  Tensor& cls_token;  // (1, 1, D)
  Tensor& pos_embed;  // (1, 1 + P, D)
  std::shared_ptr<nn::Dropout> pos_drop;
  std::shared_ptr<nn::TransformerEncoder> encoder;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> head;

 private:
  int64_t num_patches_;
};

}  // namespace tessera::models
