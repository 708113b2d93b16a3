// Basic layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout, Flatten and
// the activation modules. Parameter names and default initializations are
// torch.nn's.
#pragma once
#include <memory>
#include <optional>

#include "tessera/core/random.h"
#include "tessera/nn/module.h"

namespace tessera::quant {
struct PackedWeight;
}

namespace tessera::nn {

struct LinearOptions {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
};
// y = x W^T + b; W (out, in) ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform, a = sqrt(5)), b likewise.
//
// LoRA (Hu et al. 2021, as PEFT's LoraLayer): enable_lora adds the children
// lora_A (Linear in -> r, no bias, kaiming_uniform a = sqrt(5)) and lora_B
// (Linear r -> out, no bias, zeros), so their state_dict names are
// "<path>.lora_A.weight" / "<path>.lora_B.weight", and forward becomes
//   y = x W^T + b + (alpha / r) * lora_B(lora_A(dropout(x))).
// B = 0 at the start, so an adapted model begins equal to its base.
// merge_lora folds W += (alpha / r) B A and removes the children again.
class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& o);
  // The same initialization, drawn from init_gen instead of the default generator.
  Linear(const LinearOptions& o, Generator& init_gen);
  Linear(int64_t in, int64_t out, bool bias = true) : Linear(LinearOptions{in, out, bias}) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters(Generator* gen = nullptr);
  LinearOptions options;
  Tensor& weight;  // (out, in); undefined when `packed` holds it
  Tensor& bias;    // (out) or undefined

  // Inference-only weights in a compact format (quant/packed_weight.h), set
  // by quant::attach, which drops `weight`: forward then multiplies by them
  // (quant::linear) and refuses inputs that require grad.
  std::shared_ptr<const quant::PackedWeight> packed;

  // A is drawn from gen, and the adapter's dropout generator is seeded from
  // it. Throws for rank < 1, dropout outside [0, 1) or a second enable_lora.
  void enable_lora(int64_t rank, double alpha, double dropout, Generator& gen);
  bool has_lora() const { return lora_A_ != nullptr; }
  void merge_lora();  // no-op without LoRA; the merged weight keeps its requires_grad
  double lora_scaling() const { return lora_scaling_; }  // alpha / rank (0 without LoRA)
  Generator& lora_generator() { return lora_gen_; }     // the adapter's dropout stream (checkpoints)

 private:
  // Both public constructors: init_gen null draws from the default generator.
  Linear(const LinearOptions& o, Generator* init_gen);
  std::shared_ptr<Linear> lora_A_, lora_B_;
  double lora_scaling_ = 0.0;
  double lora_dropout_ = 0.0;
  Generator lora_gen_;  // the adapter's dropout masks
};

struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  std::optional<int64_t> padding_idx;
};
// weight ~ N(0, 1); the padding row is zero and gets no gradient.
class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& o);
  Embedding(int64_t num, int64_t dim) : Embedding(EmbeddingOptions{num, dim, std::nullopt}) {}
  Tensor forward(const Tensor& indices) override;
  EmbeddingOptions options;
  Tensor& weight;  // (num_embeddings, embedding_dim); undefined when `packed` holds it
  std::shared_ptr<const quant::PackedWeight> packed;  // as Linear's: rows dequantized on lookup
};

struct LayerNormOptions {
  Shape normalized_shape;
  double eps = 1e-5;
  bool elementwise_affine = true;
  bool bias = true;
};
class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& o);
  explicit LayerNorm(int64_t dim, double eps = 1e-5) : LayerNorm(LayerNormOptions{{dim}, eps, true, true}) {}
  Tensor forward(const Tensor& x) override;
  LayerNormOptions options;
  Tensor& weight;  // ones
  Tensor& bias;    // zeros
};

struct RMSNormOptions {
  Shape normalized_shape;
  std::optional<double> eps;  // default: machine epsilon of the input dtype, as torch.nn.RMSNorm
  bool elementwise_affine = true;
};
class RMSNorm : public Module {
 public:
  explicit RMSNorm(const RMSNormOptions& o);
  Tensor forward(const Tensor& x) override;
  RMSNormOptions options;
  Tensor& weight;
};

// Dropout with the module's own generator (seeded from the default generator
// at construction, or set_generator), so training runs are reproducible.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  double p;
  Generator& generator() { return gen_; }

 private:
  Generator gen_;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim, end_dim); }
  int64_t start_dim, end_dim;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none") : Module("GELU"), approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& x) override;
  std::string approximate;
};
class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};
class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};
class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  int64_t dim;
};

}  // namespace tessera::nn
