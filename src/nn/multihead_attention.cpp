// MultiheadAttention: in-projection, per-head scaled dot-product attention,
// out-projection, as torch.nn.MultiheadAttention. Internally everything is
// batch first, (N, L, E) and heads as (N, H, L, D); torch's masks are turned
// into one additive float mask broadcastable to (N, H, L, S), as torch 1.13
// does. Without need_weights the fused attention kernel runs; with it, the
// scores are materialized so the weights can be returned (torch's own path).
#include "tessera/nn/attention.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "tessera/autograd/grad_mode.h"
#include "tessera/nn/init.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/attention.h"
#include "tessera/ops/dropout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/indexing.h"
#include "tessera/ops/linalg.h"
#include "tessera/ops/reduce.h"

namespace tessera::nn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int64_t checked_head_dim(const MultiheadAttentionOptions& o) {
  TSR_CHECK(o.embed_dim > 0 && o.num_heads > 0, ShapeError, "MultiheadAttention: embed_dim (", o.embed_dim,
            ") and num_heads (", o.num_heads, ") must be positive");
  TSR_CHECK(o.embed_dim % o.num_heads == 0, ShapeError, "MultiheadAttention: embed_dim ", o.embed_dim,
            " is not divisible by num_heads ", o.num_heads);
  TSR_CHECK(o.kdim.value_or(o.embed_dim) > 0 && o.vdim.value_or(o.embed_dim) > 0, ShapeError,
            "MultiheadAttention: kdim and vdim must be positive");
  TSR_CHECK(o.dropout >= 0.0 && o.dropout <= 1.0, Error, "MultiheadAttention: dropout must be in [0, 1], got ",
            o.dropout);
  return o.embed_dim / o.num_heads;
}

bool same_dims(const MultiheadAttentionOptions& o) {
  return o.kdim.value_or(o.embed_dim) == o.embed_dim && o.vdim.value_or(o.embed_dim) == o.embed_dim;
}

// A bool mask (true = masked) as an additive float one; a float mask as is.
Tensor additive(const Tensor& mask, DType dtype) {
  if (mask.dtype() == DType::Bool)
    return masked_fill(zeros({}, {.dtype = dtype, .device = mask.device()}), mask, kNegInf);
  return mask.to(dtype);
}

}  // namespace

Tensor causal_mask(int64_t L, int64_t S, DType dtype, Device device) {
  TSR_CHECK(L >= 0 && S >= 0, ShapeError, "causal_mask: negative size (", L, ", ", S, ")");
  const TensorOptions index_opts{.dtype = DType::I64, .device = device};
  Tensor rows = arange(0, L, 1, index_opts).view({L, 1});
  Tensor cols = arange(0, S, 1, index_opts).view({1, S});
  return masked_fill(zeros({L, S}, {.dtype = dtype, .device = device}), gt(cols, rows), kNegInf);  // key j > query i
}

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& o)
    : Module("MultiheadAttention"),
      options(o),
      head_dim(checked_head_dim(o)),
      in_proj_weight(register_parameter("in_proj_weight",
                                        same_dims(o) ? empty({3 * o.embed_dim, o.embed_dim}) : Tensor())),
      q_proj_weight(register_parameter("q_proj_weight", same_dims(o) ? Tensor() : empty({o.embed_dim, o.embed_dim}))),
      k_proj_weight(register_parameter("k_proj_weight",
                                       same_dims(o) ? Tensor() : empty({o.embed_dim, o.kdim.value_or(o.embed_dim)}))),
      v_proj_weight(register_parameter("v_proj_weight",
                                       same_dims(o) ? Tensor() : empty({o.embed_dim, o.vdim.value_or(o.embed_dim)}))),
      in_proj_bias(register_parameter("in_proj_bias", o.bias ? empty({3 * o.embed_dim}) : Tensor())),
      out_proj(register_module("out_proj", std::make_shared<Linear>(o.embed_dim, o.embed_dim, o.bias))),
      // Own stream, derived from the default generator as Dropout's is, so
      // attention dropout is reproducible under manual_seed.
      gen_(default_generator().seed() * 6364136223846793005ull + default_generator().reserve(1) +
           1442695040888963407ull) {
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  // torch: xavier_uniform_ on the in-projection, zero biases; out_proj.weight
  // keeps Linear's default.
  if (in_proj_weight.defined()) {
    init::xavier_uniform_(in_proj_weight);
  } else {
    init::xavier_uniform_(q_proj_weight);
    init::xavier_uniform_(k_proj_weight);
    init::xavier_uniform_(v_proj_weight);
  }
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
}

std::string MultiheadAttention::describe() const {
  std::ostringstream os;
  os << "MultiheadAttention(embed_dim=" << options.embed_dim << ", num_heads=" << options.num_heads;
  if (!same_dims(options)) os << ", kdim=" << options.kdim.value_or(options.embed_dim)
                              << ", vdim=" << options.vdim.value_or(options.embed_dim);
  os << (options.batch_first ? ", batch_first" : "") << ")";
  return os.str();
}

AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const Tensor& key_padding_mask, bool need_weights,
                                            const Tensor& attn_mask, bool average_attn_weights, bool is_causal) {
  const int64_t E = options.embed_dim, H = options.num_heads, D = head_dim;
  const int64_t kdim = options.kdim.value_or(E), vdim = options.vdim.value_or(E);
  const std::string me = describe();
  auto shapes = [&] {
    return detail::concat("query ", shape_str(query.shape()), ", key ", shape_str(key.shape()), ", value ",
                          shape_str(value.shape()));
  };
  TSR_CHECK(query.defined() && key.defined() && value.defined(), Error, me, ": query, key and value must be defined");
  const bool batched = query.dim() == 3;
  TSR_CHECK((query.dim() == 2 || query.dim() == 3) && key.dim() == query.dim() && value.dim() == query.dim(),
            ShapeError, me, ": expected query, key, value all 3-D ", options.batch_first ? "(N, L, E)" : "(L, N, E)",
            " or all 2-D (unbatched), got ", shapes());
  TSR_CHECK(query.size(-1) == E && key.size(-1) == kdim && value.size(-1) == vdim, ShapeError, me,
            ": expected last dims embed_dim ", E, ", kdim ", kdim, ", vdim ", vdim, ", got ", shapes());
  TSR_CHECK(query.dtype() == DType::F32 || query.dtype() == DType::F64, DTypeError, me,
            ": expected a float32 or float64 query, got ", dtype_name(query.dtype()));

  // Everything batch first from here: (N, L, E).
  auto to_nle = [&](const Tensor& t) {
    if (!batched) return t.unsqueeze(0);
    return options.batch_first ? t : t.transpose(0, 1);
  };
  Tensor q_in = to_nle(query), k_in = to_nle(key), v_in = to_nle(value);
  const int64_t N = q_in.size(0), L = q_in.size(1), S = k_in.size(1);
  TSR_CHECK(k_in.size(0) == N && v_in.size(0) == N, ShapeError, me, ": query, key and value batch sizes differ: ",
            shapes());
  TSR_CHECK(v_in.size(1) == S, ShapeError, me, ": key and value sequence lengths differ: ", shapes());

  // In-projection; self-attention takes one GEMM against the packed weight.
  Tensor q, k, v;  // (N, L, E), (N, S, E), (N, S, E)
  if (in_proj_weight.defined()) {
    if (query.is_same(key) && key.is_same(value)) {
      auto qkv = chunk(linear(q_in, in_proj_weight, in_proj_bias), 3, -1);
      q = qkv[0], k = qkv[1], v = qkv[2];
    } else {
      auto w = chunk(in_proj_weight, 3, 0);
      std::vector<Tensor> b(3);
      if (in_proj_bias.defined()) b = chunk(in_proj_bias, 3, 0);
      q = linear(q_in, w[0], b[0]), k = linear(k_in, w[1], b[1]), v = linear(v_in, w[2], b[2]);
    }
  } else {
    std::vector<Tensor> b(3);
    if (in_proj_bias.defined()) b = chunk(in_proj_bias, 3, 0);
    q = linear(q_in, q_proj_weight, b[0]), k = linear(k_in, k_proj_weight, b[1]), v = linear(v_in, v_proj_weight, b[2]);
  }
  auto heads = [&](const Tensor& t, int64_t len) { return t.reshape({N, len, H, D}).transpose(1, 2); };
  q = heads(q, L), k = heads(k, S), v = heads(v, S);  // (N, H, len, D)

  // One additive mask broadcastable to (N, H, L, S).
  const DType dt = query.dtype();
  Tensor mask;
  if (attn_mask.defined()) {
    TSR_CHECK(attn_mask.dtype() == DType::Bool || attn_mask.dtype() == DType::F32 || attn_mask.dtype() == DType::F64,
              DTypeError, me, ": attn_mask must be bool (true = not allowed) or float (added), got ",
              dtype_name(attn_mask.dtype()));
    if (attn_mask.dim() == 2) {
      TSR_CHECK(attn_mask.size(0) == L && attn_mask.size(1) == S, ShapeError, me, ": 2-D attn_mask has shape ",
                shape_str(attn_mask.shape()), ", expected (L, S) = [", L, ", ", S, "]");
      mask = additive(attn_mask, dt).view({1, 1, L, S});
    } else {
      const int64_t lead = batched ? N * H : H;
      TSR_CHECK(attn_mask.dim() == 3 && attn_mask.size(0) == lead && attn_mask.size(1) == L && attn_mask.size(2) == S,
                ShapeError, me, ": attn_mask has shape ", shape_str(attn_mask.shape()), ", expected [", L, ", ", S,
                "] or [", lead, ", ", L, ", ", S, "] (", batched ? "N * num_heads" : "num_heads", ", L, S)");
      mask = additive(attn_mask, dt).reshape({N, H, L, S});
    }
  }
  if (key_padding_mask.defined()) {
    TSR_CHECK(key_padding_mask.dtype() == DType::Bool || key_padding_mask.dtype() == DType::F32 ||
                  key_padding_mask.dtype() == DType::F64,
              DTypeError, me, ": key_padding_mask must be bool (true = ignore) or float, got ",
              dtype_name(key_padding_mask.dtype()));
    Shape want = batched ? Shape{N, S} : Shape{S};
    TSR_CHECK(key_padding_mask.shape() == want, ShapeError, me, ": key_padding_mask has shape ",
              shape_str(key_padding_mask.shape()), ", expected ", shape_str(want), batched ? " (N, S)" : " (S)");
    Tensor kpm = additive(key_padding_mask, dt).reshape({N, 1, 1, S});
    mask = mask.defined() ? add(mask, kpm) : kpm;
  }
  const double p = is_training() ? options.dropout : 0.0;

  Tensor attn, weights;  // (N, H, L, D), (N, H, L, S)
  if (!need_weights) {
    attn = scaled_dot_product_attention(q, k, v, mask, is_causal, p, std::nullopt, &gen_);
  } else {
    if (is_causal) {
      Tensor cm = causal_mask(L, S, dt, query.device());  // (L, S)
      mask = mask.defined() ? add(mask, cm) : cm;
    }
    Tensor scores = matmul(q * (1.0 / std::sqrt(static_cast<double>(D))), k.transpose(-2, -1));  // (N, H, L, S)
    if (mask.defined()) scores = add(scores, mask);
    weights = softmax(scores, -1);
    // torch returns the weights after dropout, so these are the ones used.
    if (p > 0.0) weights = dropout(weights, p, true, gen_);
    attn = matmul(weights, v);
  }
  Tensor out = out_proj->forward(attn.transpose(1, 2).reshape({N, L, E}));  // (N, L, E)
  if (!batched) out = out.squeeze(0);
  else if (!options.batch_first) out = out.transpose(0, 1);

  if (weights.defined()) {
    if (average_attn_weights) weights = mean(weights, {1});  // (N, L, S)
    if (!batched) weights = weights.squeeze(0);
  }
  return {out, weights};
}

}  // namespace tessera::nn
