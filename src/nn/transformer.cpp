// Transformer layers, stacks and the encoder-decoder, following torch.nn's
// transformer.py step by step (post-norm: norm(x + block(x)); norm_first:
// x + block(norm(x)); each add before a norm fused with it), so outputs and gradients match with weights loaded by
// name. Errors raised inside a submodule are re-thrown with the submodule's
// path in brackets, "[decoder.layers.1.multihead_attn] MultiheadAttention...",
// so a shape problem deep in a model says where it happened.
#include "tessera/nn/transformer.h"

#include <sstream>

#include "nn/add_norm.h"
#include "tessera/nn/init.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/elementwise.h"

namespace tessera::nn {

namespace {

std::string with_path(const std::string& child, const std::string& msg) {
  if (!msg.empty() && msg[0] == '[') return "[" + child + "." + msg.substr(1);
  return "[" + child + "] " + msg;
}

// Runs f(); a tessera error thrown inside submodule `child` gains its path.
template <typename F>
auto in_child(const std::string& child, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const ShapeError& e) {
    throw ShapeError(with_path(child, e.what()));
  } catch (const DTypeError& e) {
    throw DTypeError(with_path(child, e.what()));
  } catch (const IndexError& e) {
    throw IndexError(with_path(child, e.what()));
  }
}

MultiheadAttentionOptions attention_options(const TransformerLayerOptions& o) {
  MultiheadAttentionOptions a;
  a.embed_dim = o.d_model;
  a.num_heads = o.nhead;
  a.dropout = o.dropout;
  a.batch_first = o.batch_first;
  return a;
}

void check_activation(const std::string& who, const std::string& activation) {
  TSR_CHECK(activation == "relu" || activation == "gelu", Error, who, ": activation should be relu or gelu, not '",
            activation, "'");
}

std::string describe(const char* type, const TransformerLayerOptions& o) {
  std::ostringstream os;
  os << type << "(d_model=" << o.d_model << ", nhead=" << o.nhead << (o.batch_first ? ", batch_first" : "") << ")";
  return os.str();
}

// A sequence input of a transformer layer: (L, N, E) / (N, L, E) or unbatched (L, E).
void check_sequence(const std::string& who, const char* what, const Tensor& x, const TransformerLayerOptions& o) {
  TSR_CHECK(x.defined(), Error, who, ": ", what, " is undefined");
  TSR_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-1) == o.d_model, ShapeError, who, ": ", what, " of shape ",
            shape_str(x.shape()), " must be ", o.batch_first ? "(N, L, d_model)" : "(L, N, d_model)",
            " or (L, d_model) with d_model = ", o.d_model);
}

Tensor activate(const std::string& activation, const Tensor& x) {
  return activation == "gelu" ? gelu(x) : relu(x);
}

}  // namespace

// ---- encoder layer ----

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerOptions& o)
    : Module("TransformerEncoderLayer"),
      options(o),
      self_attn(register_module("self_attn", std::make_shared<MultiheadAttention>(attention_options(o)))),
      linear1(register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward))),
      dropout(register_module("dropout", std::make_shared<Dropout>(o.dropout))),
      linear2(register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model))),
      norm1(register_module("norm1", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps))),
      norm2(register_module("norm2", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps))),
      dropout1(register_module("dropout1", std::make_shared<Dropout>(o.dropout))),
      dropout2(register_module("dropout2", std::make_shared<Dropout>(o.dropout))) {
  check_activation(type_name(), o.activation);
}

Tensor TransformerEncoderLayer::ff_block(const Tensor& x) {
  return dropout2->forward(linear2->forward(dropout->forward(activate(options.activation, linear1->forward(x)))));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask, bool is_causal) {
  check_sequence(describe("TransformerEncoderLayer", options), "src", src, options);
  auto sa = [&](const Tensor& x) {
    return dropout1->forward(in_child("self_attn", [&] {
      return self_attn->forward(x, x, x, src_key_padding_mask, false, src_mask, true, is_causal).output;
    }));
  };
  // Each residual add that a norm follows runs fused with it (add_norm).
  Tensor x = src;
  if (options.norm_first) {
    auto [h, n2] = add_norm(*norm2, x, sa(norm1->forward(x)));
    x = h + ff_block(n2);
  } else {
    x = add_norm(*norm1, x, sa(x)).y;
    x = add_norm(*norm2, x, ff_block(x)).y;
  }
  return x;
}

// ---- decoder layer ----

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerLayerOptions& o)
    : Module("TransformerDecoderLayer"),
      options(o),
      self_attn(register_module("self_attn", std::make_shared<MultiheadAttention>(attention_options(o)))),
      multihead_attn(register_module("multihead_attn", std::make_shared<MultiheadAttention>(attention_options(o)))),
      linear1(register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward))),
      dropout(register_module("dropout", std::make_shared<Dropout>(o.dropout))),
      linear2(register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model))),
      norm1(register_module("norm1", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps))),
      norm2(register_module("norm2", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps))),
      norm3(register_module("norm3", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps))),
      dropout1(register_module("dropout1", std::make_shared<Dropout>(o.dropout))),
      dropout2(register_module("dropout2", std::make_shared<Dropout>(o.dropout))),
      dropout3(register_module("dropout3", std::make_shared<Dropout>(o.dropout))) {
  check_activation(type_name(), o.activation);
}

Tensor TransformerDecoderLayer::ff_block(const Tensor& x) {
  return dropout3->forward(linear2->forward(dropout->forward(activate(options.activation, linear1->forward(x)))));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, bool tgt_is_causal,
                                        bool memory_is_causal) {
  const std::string me = describe("TransformerDecoderLayer", options);
  check_sequence(me, "tgt", tgt, options);
  check_sequence(me, "memory", memory, options);
  TSR_CHECK(tgt.dim() == memory.dim(), ShapeError, me, ": tgt ", shape_str(tgt.shape()), " and memory ",
            shape_str(memory.shape()), " must both be batched (3-D) or both unbatched (2-D)");
  auto sa = [&](const Tensor& x) {
    return dropout1->forward(in_child("self_attn", [&] {
      return self_attn->forward(x, x, x, tgt_key_padding_mask, false, tgt_mask, true, tgt_is_causal).output;
    }));
  };
  auto mha = [&](const Tensor& x) {
    return dropout2->forward(in_child("multihead_attn", [&] {
      return multihead_attn
          ->forward(x, memory, memory, memory_key_padding_mask, false, memory_mask, true, memory_is_causal)
          .output;
    }));
  };
  Tensor x = tgt;
  if (options.norm_first) {
    auto [h1, n2] = add_norm(*norm2, x, sa(norm1->forward(x)));
    auto [h2, n3] = add_norm(*norm3, h1, mha(n2));
    x = h2 + ff_block(n3);
  } else {
    x = add_norm(*norm1, x, sa(x)).y;
    x = add_norm(*norm2, x, mha(x)).y;
    x = add_norm(*norm3, x, ff_block(x)).y;
  }
  return x;
}

// ---- stacks ----

namespace {

// torch deep-copies one layer num_layers times: every layer starts equal.
template <typename Layer>
std::shared_ptr<ModuleList> cloned_layers(const TransformerLayerOptions& o, int64_t num_layers, const char* who) {
  TSR_CHECK(num_layers >= 0, Error, who, ": num_layers must be non-negative, got ", num_layers);
  auto list = std::make_shared<ModuleList>();
  StateDict first;
  for (int64_t i = 0; i < num_layers; ++i) {
    auto layer = std::make_shared<Layer>(o);
    if (i == 0) first = layer->state_dict();
    else layer->load_state_dict(first);
    list->push_back(layer);
  }
  return list;
}

}  // namespace

TransformerEncoder::TransformerEncoder(const TransformerLayerOptions& layer, int64_t num_layers, bool final_norm)
    : Module("TransformerEncoder"),
      options(layer),
      layers(register_module("layers",
                             cloned_layers<TransformerEncoderLayer>(layer, num_layers, "TransformerEncoder"))),
      norm(final_norm ? register_module("norm", std::make_shared<LayerNorm>(layer.d_model, layer.layer_norm_eps))
                      : nullptr) {}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   bool is_causal) {
  Tensor x = src;
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = layers->at<TransformerEncoderLayer>(i);
    x = in_child("layers." + std::to_string(i),
                 [&] { return layer->forward(x, mask, src_key_padding_mask, is_causal); });
  }
  return norm ? norm->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(const TransformerLayerOptions& layer, int64_t num_layers, bool final_norm)
    : Module("TransformerDecoder"),
      options(layer),
      layers(register_module("layers",
                             cloned_layers<TransformerDecoderLayer>(layer, num_layers, "TransformerDecoder"))),
      norm(final_norm ? register_module("norm", std::make_shared<LayerNorm>(layer.d_model, layer.layer_norm_eps))
                      : nullptr) {}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask, bool tgt_is_causal, bool memory_is_causal) {
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = layers->at<TransformerDecoderLayer>(i);
    x = in_child("layers." + std::to_string(i), [&] {
      return layer->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                            tgt_is_causal, memory_is_causal);
    });
  }
  return norm ? norm->forward(x) : x;
}

// ---- encoder-decoder ----

namespace {
TransformerLayerOptions layer_options(const TransformerOptions& o) {
  return TransformerLayerOptions{o.d_model,        o.nhead,       o.dim_feedforward, o.dropout,
                                 o.activation,     o.layer_norm_eps, o.batch_first, o.norm_first};
}
}  // namespace

Transformer::Transformer(const TransformerOptions& o)
    : Module("Transformer"),
      options(o),
      encoder(register_module("encoder",
                              std::make_shared<TransformerEncoder>(layer_options(o), o.num_encoder_layers, true))),
      decoder(register_module("decoder",
                              std::make_shared<TransformerDecoder>(layer_options(o), o.num_decoder_layers, true))) {
  for (auto& [name, p] : named_parameters())
    if (p.dim() > 1) init::xavier_uniform_(p);
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, const Tensor& tgt_mask,
                            const Tensor& memory_mask, const Tensor& src_key_padding_mask,
                            const Tensor& tgt_key_padding_mask, const Tensor& memory_key_padding_mask) {
  std::ostringstream me;
  me << "Transformer(d_model=" << options.d_model << ", nhead=" << options.nhead
     << (options.batch_first ? ", batch_first" : "") << ")";
  TSR_CHECK(src.defined() && tgt.defined(), Error, me.str(), ": src and tgt must be defined");
  TSR_CHECK((src.dim() == 2 || src.dim() == 3) && src.dim() == tgt.dim(), ShapeError, me.str(),
            ": src and tgt must both be 3-D ", options.batch_first ? "(N, L, d_model)" : "(L, N, d_model)",
            " or both 2-D (unbatched); got src ", shape_str(src.shape()), ", tgt ", shape_str(tgt.shape()));
  const int64_t bdim = options.batch_first ? 0 : 1;
  TSR_CHECK(src.dim() == 2 || src.size(bdim) == tgt.size(bdim), ShapeError, me.str(),
            ": the batch sizes of src ", shape_str(src.shape()), " and tgt ", shape_str(tgt.shape()), " differ");
  TSR_CHECK(src.size(-1) == options.d_model && tgt.size(-1) == options.d_model, ShapeError, me.str(),
            ": the feature sizes of src ", shape_str(src.shape()), " and tgt ", shape_str(tgt.shape()),
            " must equal d_model = ", options.d_model);
  Tensor memory = in_child("encoder", [&] { return encoder->forward(src, src_mask, src_key_padding_mask); });
  return in_child("decoder", [&] {
    return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask);
  });
}

Tensor Transformer::generate_square_subsequent_mask(int64_t sz, DType dtype) { return causal_mask(sz, sz, dtype); }

}  // namespace tessera::nn
