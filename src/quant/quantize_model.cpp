// Packing a model's Linear and Embedding weights (quant/quantize_model.h).
#include "tessera/quant/quantize_model.h"

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/nn/layers.h"

namespace tessera::quant {

namespace {

// The module owning "<path>.weight" if it is a Linear or an Embedding.
struct Owner {
  nn::Linear* linear = nullptr;
  nn::Embedding* embedding = nullptr;
  Tensor& weight() const { return linear ? linear->weight : embedding->weight; }
  std::shared_ptr<const PackedWeight>& packed() const { return linear ? linear->packed : embedding->packed; }
  int64_t rows() const { return linear ? linear->options.out_features : embedding->options.num_embeddings; }
  int64_t cols() const { return linear ? linear->options.in_features : embedding->options.embedding_dim; }
};

std::map<std::string, Owner> owners(nn::Module& model) {
  std::map<std::string, Owner> out;
  for (auto& [path, m] : model.named_modules()) {
    Owner o{dynamic_cast<nn::Linear*>(m), dynamic_cast<nn::Embedding*>(m)};
    if (o.linear || o.embedding) out[path.empty() ? "weight" : path + ".weight"] = o;
  }
  return out;
}

}  // namespace

QuantizeResult quantize_weights(nn::Module& model, WeightFormat format, const std::set<std::string>& keep) {
  QuantizeResult out;
  for (auto& [name, o] : owners(model)) {
    if (keep.count(name) || !o.weight().defined()) continue;
    const bool blocks = format == WeightFormat::Q8_0 || format == WeightFormat::Q4_0;
    if (blocks && o.cols() % 32 != 0) {
      out.skipped.push_back(name);
      continue;
    }
    NoGradGuard no_grad;
    out.packed.emplace(name, pack(o.weight().detach().to(DType::F32), format));
  }
  return out;
}

void attach(nn::Module& model, const PackedMap& packed) {
  auto found = owners(model);
  for (const auto& [name, w] : packed) {
    auto it = found.find(name);
    TSR_CHECK(it != found.end(), Error, "quantized weight '", name,
              "' names no Linear or Embedding weight of the model");
    const Owner& o = it->second;
    TSR_CHECK(w.rows == o.rows() && w.cols == o.cols(), ShapeError, "quantized weight '", name, "' is ", w.rows,
              " x ", w.cols, " but the model's is ", o.rows(), " x ", o.cols());
    o.packed() = std::make_shared<const PackedWeight>(w);
    o.weight() = Tensor();
  }
}

PackedMap packed_weights(nn::Module& model) {
  PackedMap out;
  for (auto& [name, o] : owners(model))
    if (o.packed()) out.emplace(name, *o.packed());
  return out;
}

void dequantize(nn::Module& model) {
  for (auto& [name, o] : owners(model)) {
    if (!o.packed()) continue;
    o.weight() = unpack(*o.packed()).set_requires_grad(true);
    o.packed().reset();
  }
}

void check_trainable(nn::Module& model, const std::string& what) {
  for (auto& [name, o] : owners(model))
    TSR_CHECK(!o.packed(), Error, what, " holds ", format_name(o.packed()->format), " weights (", name,
              "): a quantized model is for inference only; dequantize it first (tessera quantize --dtype f32)");
}

}  // namespace tessera::quant
