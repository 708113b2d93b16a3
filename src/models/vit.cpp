// ViT-style classifier of models/vit.h.
#include "tessera/models/vit.h"

#include "tessera/core/error.h"
#include "tessera/nn/init.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/indexing.h"

namespace tessera::models {

namespace {

int64_t patches_of(const ViTOptions& o) {
  TSR_CHECK(o.patch_size > 0 && o.height % o.patch_size == 0 && o.width % o.patch_size == 0, ShapeError,
            "ViT: image ", o.height, "x", o.width, " is not divisible into ", o.patch_size, "x", o.patch_size,
            " patches");
  TSR_CHECK(o.dim > 0 && o.heads > 0 && o.dim % o.heads == 0, Error, "ViT: dim (", o.dim,
            ") must be a positive multiple of heads (", o.heads, ")");
  return (o.height / o.patch_size) * (o.width / o.patch_size);
}

}  // namespace

ViT::ViT(const ViTOptions& o)
    : Module("ViT"),
      options(o),
      cls_token(register_parameter("cls_token", zeros({1, 1, o.dim}))),
      pos_embed(register_parameter("pos_embed", zeros({1, 1 + patches_of(o), o.dim}))),
      num_patches_(patches_of(o)) {
  patch_embed = register_module("patch_embed", std::make_shared<nn::Conv2d>(o.in_channels, o.dim, o.patch_size,
                                                                            o.patch_size, 0));
  // Small random positions and class token (timm's std 0.02): zeros would make
  // every position identical at the start.
  nn::init::trunc_normal_(cls_token, 0.0, 0.02, -0.04, 0.04);
  nn::init::trunc_normal_(pos_embed, 0.0, 0.02, -0.04, 0.04);
  pos_drop = register_module("pos_drop", std::make_shared<nn::Dropout>(o.dropout));
  nn::TransformerLayerOptions layer;
  layer.d_model = o.dim;
  layer.nhead = o.heads;
  layer.dim_feedforward = o.mlp_dim;
  layer.dropout = o.dropout;
  layer.activation = o.activation;
  layer.batch_first = true;
  layer.norm_first = true;
  encoder = register_module("encoder", std::make_shared<nn::TransformerEncoder>(layer, o.depth));
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(o.dim));
  head = register_module("head", std::make_shared<nn::Linear>(o.dim, o.num_classes));
}

Tensor ViT::forward(const Tensor& x) {
  TSR_CHECK(x.dim() == 4 && x.size(1) == options.in_channels && x.size(2) == options.height &&
                x.size(3) == options.width,
            ShapeError, "ViT: expected input (N, ", options.in_channels, ", ", options.height, ", ", options.width,
            "), got ", shape_str(x.shape()));
  int64_t n = x.size(0);
  Tensor p = patch_embed->forward(x);            // (N, D, H/p, W/p)
  p = p.flatten(2).transpose(1, 2);              // (N, P, D)
  Tensor cls = cls_token.expand({n, 1, options.dim});  // (N, 1, D)
  Tensor tokens = add(cat({cls, p}, 1), pos_embed);    // (N, 1 + P, D)
  tokens = encoder->forward(pos_drop->forward(tokens));
  Tensor first = norm->forward(tokens.select(1, 0));   // (N, D)
  return head->forward(first);
}

}  // namespace tessera::models
