// Parity registrations: MultiheadAttention, Transformer layers, stacks and the
// encoder-decoder, weights bound by torch's names (or, for
// nn_transformer_load_state, copied in with load_state_dict).
#include <map>

#include "registry.h"
#include "tessera/nn/transformer.h"

namespace {
using namespace tessera;
using parity::attr;

nn::TransformerLayerOptions layer_options(const nlohmann::json& a) {
  nn::TransformerLayerOptions o;
  o.d_model = attr<int64_t>(a, "d_model");
  o.nhead = attr<int64_t>(a, "nhead");
  o.dim_feedforward = attr<int64_t>(a, "ff");
  o.dropout = 0.0;
  o.activation = attr<std::string>(a, "activation");
  o.layer_norm_eps = attr<double>(a, "eps");
  o.batch_first = attr<bool>(a, "batch_first");
  o.norm_first = attr<bool>(a, "norm_first");
  return o;
}

// The case's masks by name ("src_mask", "tgt_kpm", ...), read from in[first...].
struct Masks {
  std::map<std::string, Tensor> by_name;
  size_t count = 0;
  Masks(const std::vector<Tensor>& in, size_t first, const nlohmann::json& a) {
    for (const auto& n : a.at("masks").get<std::vector<std::string>>()) by_name[n] = in.at(first + count++);
  }
  Tensor operator[](const std::string& n) const {
    auto it = by_name.find(n);
    return it == by_name.end() ? Tensor() : it->second;
  }
};

}  // namespace

PARITY_OP(nn_mha) {
  nn::MultiheadAttentionOptions o;
  o.embed_dim = attr<int64_t>(attrs, "E");
  o.num_heads = attr<int64_t>(attrs, "H");
  o.batch_first = attr<bool>(attrs, "batch_first");
  o.bias = attr<bool>(attrs, "bias");
  if (!attrs.at("kdim").is_null()) o.kdim = attr<int64_t>(attrs, "kdim");
  if (!attrs.at("vdim").is_null()) o.vdim = attr<int64_t>(attrs, "vdim");
  nn::MultiheadAttention m(o);
  const bool self = attr<bool>(attrs, "self"), has_kpm = attr<bool>(attrs, "kpm"), has_mask = attr<bool>(attrs, "mask");
  const bool is_causal = attr<bool>(attrs, "is_causal"), need_weights = attr<bool>(attrs, "need_weights");
  size_t i = self ? 1 : 3;
  Tensor kpm = has_kpm ? in[i++] : Tensor();
  // With is_causal the torch side's explicit causal mask is left unused here.
  Tensor mask = has_mask ? in[i++] : Tensor();
  if (is_causal) mask = Tensor();
  parity::bind_params(m, in, i, attrs);
  const Tensor& q = in[0];
  auto r = self ? m.forward(q, q, q, kpm, need_weights, mask, attr<bool>(attrs, "average"), is_causal)
                : m.forward(q, in[1], in[2], kpm, need_weights, mask, attr<bool>(attrs, "average"), is_causal);
  if (need_weights) return {r.output, r.weights};
  return {r.output};
}

PARITY_OP(nn_transformer_encoder_layer) {
  nn::TransformerEncoderLayer m(layer_options(attrs));
  Masks mk(in, 1, attrs);
  parity::bind_params(m, in, 1 + mk.count, attrs);
  return {m.forward(in[0], mk["src_mask"], mk["src_kpm"])};
}

PARITY_OP(nn_transformer_decoder_layer) {
  nn::TransformerDecoderLayer m(layer_options(attrs));
  Masks mk(in, 2, attrs);
  parity::bind_params(m, in, 2 + mk.count, attrs);
  return {m.forward(in[0], in[1], mk["tgt_mask"], mk["memory_mask"], mk["tgt_kpm"], mk["memory_kpm"])};
}

PARITY_OP(nn_transformer_encoder) {
  nn::TransformerEncoder m(layer_options(attrs), attr<int64_t>(attrs, "layers"), attr<bool>(attrs, "final_norm"));
  Masks mk(in, 1, attrs);
  parity::bind_params(m, in, 1 + mk.count, attrs);
  return {m.forward(in[0], mk["src_mask"], mk["src_kpm"])};
}

PARITY_OP(nn_transformer_decoder) {
  nn::TransformerDecoder m(layer_options(attrs), attr<int64_t>(attrs, "layers"), attr<bool>(attrs, "final_norm"));
  Masks mk(in, 2, attrs);
  parity::bind_params(m, in, 2 + mk.count, attrs);
  return {m.forward(in[0], in[1], mk["tgt_mask"], mk["memory_mask"], mk["tgt_kpm"], mk["memory_kpm"])};
}

namespace {
nn::TransformerOptions transformer_options(const nlohmann::json& a) {
  auto l = layer_options(a);
  nn::TransformerOptions o;
  o.d_model = l.d_model;
  o.nhead = l.nhead;
  o.num_encoder_layers = attr<int64_t>(a, "enc_layers");
  o.num_decoder_layers = attr<int64_t>(a, "dec_layers");
  o.dim_feedforward = l.dim_feedforward;
  o.dropout = 0.0;
  o.activation = l.activation;
  o.layer_norm_eps = l.layer_norm_eps;
  o.batch_first = l.batch_first;
  o.norm_first = l.norm_first;
  return o;
}

Tensor run_transformer(nn::Transformer& m, const std::vector<Tensor>& in, const Masks& mk) {
  return m.forward(in[0], in[1], mk["src_mask"], mk["tgt_mask"], mk["memory_mask"], mk["src_kpm"], mk["tgt_kpm"],
                   mk["memory_kpm"]);
}
}  // namespace

PARITY_OP(nn_transformer) {
  nn::Transformer m(transformer_options(attrs));
  Masks mk(in, 2, attrs);
  parity::bind_params(m, in, 2 + mk.count, attrs);
  return {run_transformer(m, in, mk)};
}

// torch's state_dict, by name, through the strict load_state_dict.
PARITY_OP(nn_transformer_load_state) {
  nn::Transformer m(transformer_options(attrs));
  Masks mk(in, 2, attrs);
  auto names = attrs.at("params").get<std::vector<std::string>>();
  nn::StateDict sd;
  for (size_t i = 0; i < names.size(); ++i) sd[names[i]] = in.at(2 + mk.count + i).detach();
  m.load_state_dict(sd);
  m.train(attrs.value("train", false));
  return {run_transformer(m, in, mk)};
}
