// Basic layers. Shape errors name the module and both shapes.
#include "tessera/nn/layers.h"

#include <cmath>
#include <limits>

#include "tessera/autograd/grad_mode.h"
#include "tessera/nn/init.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/dropout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/indexing.h"
#include "tessera/ops/linalg.h"
#include "tessera/ops/norm.h"
#include "tessera/quant/packed_weight.h"

namespace tessera::nn {

Linear::Linear(const LinearOptions& o) : Linear(o, nullptr) {}

Linear::Linear(const LinearOptions& o, Generator& init_gen) : Linear(o, &init_gen) {}

Linear::Linear(const LinearOptions& o, Generator* init_gen)
    : Module("Linear"),
      options(o),
      weight(register_parameter("weight", empty({o.out_features, o.in_features}))),
      bias(register_parameter("bias", o.bias ? empty({o.out_features}) : Tensor())) {
  TSR_CHECK(o.in_features >= 0 && o.out_features >= 0, ShapeError, "Linear: negative features (", o.in_features, ", ",
            o.out_features, ")");
  reset_parameters(init_gen);
}

void Linear::reset_parameters(Generator* gen) {
  // torch: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  if (options.in_features > 0) init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  else init::zeros_(weight);
  if (bias.defined()) {
    double bound = options.in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(options.in_features)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  TSR_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features, ShapeError, qualified_name(), " (", options.in_features,
            " -> ", options.out_features, "): input of shape ", shape_str(x.shape()), " must end in ",
            options.in_features, " (out_features ", options.out_features, ")");
  if (packed) {
    TSR_CHECK(!lora_A_, Error, qualified_name(), ": LoRA on quantized weights is not supported (dequantize first)");
    return quant::linear(x, *packed, bias);
  }
  Tensor y = linear(x, weight, bias);
  if (!lora_A_) return y;
  Tensor h = lora_dropout_ > 0 ? dropout(x, lora_dropout_, is_training(), lora_gen_) : x;
  return add(y, linear(linear(h, lora_A_->weight), lora_B_->weight), lora_scaling_);
}

void Linear::enable_lora(int64_t rank, double alpha, double dropout_p, Generator& gen) {
  TSR_CHECK(!lora_A_, Error, qualified_name(), ": LoRA is already enabled");
  TSR_CHECK(!packed, Error, qualified_name(), ": its weights are quantized (inference only); dequantize first");
  TSR_CHECK(rank >= 1, Error, qualified_name(), ": LoRA rank must be >= 1, got ", rank);
  TSR_CHECK(dropout_p >= 0.0 && dropout_p < 1.0, Error, qualified_name(), ": LoRA dropout must be in [0, 1), got ",
            dropout_p);
  auto A = std::make_shared<Linear>(LinearOptions{options.in_features, rank, false}, gen);  // kaiming_uniform(a=sqrt(5))
  auto B = std::make_shared<Linear>(LinearOptions{rank, options.out_features, false}, gen);
  {
    NoGradGuard ng;
    B->weight.zero_();  // PEFT: zeros, so the adapted layer starts equal to the base layer
  }
  if (weight.dtype() != A->weight.dtype())  // the adapter computes in the layer's dtype
    for (Linear* m : {A.get(), B.get()}) m->weight = m->weight.to(weight.dtype()).detach().set_requires_grad(true);
  lora_A_ = register_module("lora_A", A);
  lora_B_ = register_module("lora_B", B);
  lora_scaling_ = alpha / static_cast<double>(rank);
  lora_dropout_ = dropout_p;
  lora_gen_ = Generator(gen.seed() * 6364136223846793005ull + gen.reserve(1) + 1442695040888963407ull);
}

void Linear::merge_lora() {
  if (!lora_A_) return;
  {
    NoGradGuard ng;
    // (out, r) @ (r, in): the update the adapter adds to x W^T.
    weight.add_(matmul(lora_B_->weight, lora_A_->weight), lora_scaling_);
  }
  remove_child("lora_A");
  remove_child("lora_B");
  lora_A_.reset();
  lora_B_.reset();
  lora_scaling_ = 0.0;
  lora_dropout_ = 0.0;
}

Embedding::Embedding(const EmbeddingOptions& o)
    : Module("Embedding"), options(o), weight(register_parameter("weight", empty({o.num_embeddings, o.embedding_dim}))) {
  init::normal_(weight);
  if (o.padding_idx) {
    int64_t p = *o.padding_idx;
    TSR_CHECK(p >= -o.num_embeddings && p < o.num_embeddings, IndexError, "Embedding: padding_idx ", p,
              " out of range for ", o.num_embeddings, " embeddings");
    if (p < 0) options.padding_idx = p + o.num_embeddings;
    NoGradGuard ng;
    weight.select(0, *options.padding_idx).fill_(0.0);
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  if (packed) return quant::embedding(*packed, indices);
  return embedding(weight, indices, options.padding_idx);
}

LayerNorm::LayerNorm(const LayerNormOptions& o)
    : Module("LayerNorm"),
      options(o),
      weight(register_parameter("weight", o.elementwise_affine ? ones(o.normalized_shape) : Tensor())),
      bias(register_parameter("bias", o.elementwise_affine && o.bias ? zeros(o.normalized_shape) : Tensor())) {}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, options.normalized_shape, weight, bias, options.eps);
}

RMSNorm::RMSNorm(const RMSNormOptions& o)
    : Module("RMSNorm"),
      options(o),
      weight(register_parameter("weight", o.elementwise_affine ? ones(o.normalized_shape) : Tensor())) {}

Tensor RMSNorm::forward(const Tensor& x) {
  double eps = options.eps.value_or(x.dtype() == DType::F64 ? std::numeric_limits<double>::epsilon()
                                                            : std::numeric_limits<float>::epsilon());
  return rms_norm(x, options.normalized_shape, weight, eps);
}

Dropout::Dropout(double p) : Module("Dropout"), p(p), gen_(default_generator().seed() * 6364136223846793005ull + default_generator().reserve(1) + 1442695040888963407ull) {
  TSR_CHECK(p >= 0.0 && p <= 1.0, Error, "Dropout: probability must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen_); }

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }

}  // namespace tessera::nn
