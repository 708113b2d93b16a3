// GGUF -> models::GPT (checkpoint/gguf_model.h): hyperparameters from the
// metadata, tensors renamed to the GPT's state_dict names, llama's q/k rows
// un-permuted, q/k/v stacked into c_attn.
#include <cstring>
#include <set>

#include "gguf_rows.h"
#include "tessera/checkpoint/gguf_model.h"
#include "tessera/core/error.h"
#include "tessera/quant/quantize_model.h"

namespace tessera::checkpoint {

namespace {

using io::GgmlType;

// Collects the state_dict of the GPT to build, tracking which file tensors
// were used so a leftover one is reported instead of silently ignored.
class StateBuilder {
 public:
  explicit StateBuilder(const io::GgufFile& file) : file_(file) {}

  bool has(const std::string& gguf_name) const { return file_.find_tensor(gguf_name) != nullptr; }

  // The file tensor `gguf_name` with torch shape `shape` ((out, in) or (n)).
  gguf::Rows read(const std::string& gguf_name, const Shape& shape) {
    used_.insert(gguf_name);
    return gguf::read_rows(file_, gguf_name, shape);
  }

  // Stores `rows` under the GPT parameter `name`. Q8_0 / Q4_0 matrices keep
  // their blocks (attached to the model by build()); the state_dict gets their
  // values too, since a strict load wants every parameter.
  void put(const std::string& name, const gguf::Rows& rows, const Shape& shape) {
    if (rows.type == GgmlType::Q8_0 || rows.type == GgmlType::Q4_0) {
      quant::PackedWeight w = gguf::to_packed(rows);
      state_[name] = quant::unpack(w).view(shape);
      packed_[name] = std::move(w);
    } else {
      state_[name] = gguf::to_float(rows).view(shape);
    }
  }
  void copy(const std::string& gguf_name, const std::string& name, const Shape& shape) {
    put(name, read(gguf_name, shape), shape);
  }

  // Every tensor of the file must have been used.
  void check_all_used(const std::string& arch) const {
    for (const auto& t : file_.tensors())
      TSR_CHECK(used_.count(t.name), Error, file_.path(), ": unexpected tensor '", t.name, "' (Tessera's ", arch,
                " architecture has no such weight)");
  }

  // The GPT, its Q8_0 / Q4_0 matrices running from their blocks (quant::attach).
  std::shared_ptr<models::GPT> build(const models::GPTConfig& c) const {
    auto model = std::make_shared<models::GPT>(c);
    model->load_state_dict(state_, /*strict=*/true);
    quant::attach(*model, packed_);
    return model;
  }

 private:
  const io::GgufFile& file_;
  std::set<std::string> used_;
  nn::StateDict state_;
  std::map<std::string, quant::PackedWeight> packed_;
};

int64_t positive(const io::GgufFile& f, const std::string& key) {
  const int64_t v = f.get_int(key);
  TSR_CHECK(v > 0 && v <= (int64_t(1) << 31), Error, f.path(), ": ", key, " = ", v, " is not a usable size");
  return v;
}

// Hyperparameters shared by both architectures (keys prefixed "<arch>.").
models::GPTConfig common_config(const io::GgufFile& f, const std::string& arch) {
  models::GPTConfig c;
  c.dropout = 0.0;
  c.n_embd = positive(f, arch + ".embedding_length");
  c.n_layer = positive(f, arch + ".block_count");
  c.n_head = positive(f, arch + ".attention.head_count");
  c.block_size = positive(f, arch + ".context_length");
  c.mlp_hidden = positive(f, arch + ".feed_forward_length");
  const int64_t n_head_kv = f.get_int(arch + ".attention.head_count_kv", c.n_head);
  TSR_CHECK(n_head_kv == c.n_head, Error, f.path(), ": grouped-query attention (", arch,
            ".attention.head_count_kv = ", n_head_kv, " < head_count = ", c.n_head,
            ") is not supported by Tessera's GPT");
  TSR_CHECK(c.n_embd % c.n_head == 0, Error, f.path(), ": embedding_length ", c.n_embd,
            " is not a multiple of head_count ", c.n_head);
  const io::GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  TSR_CHECK(embd, Error, f.path(), ": tensor 'token_embd.weight' is missing");
  TSR_CHECK(embd->dims.size() == 2, Error, f.path(), ": token_embd.weight must be 2-D");
  c.vocab_size = embd->dims[1];
  return c;
}

void finish_config(models::GPTConfig& c, const io::GgufFile& f) {
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(f.path() + ": the hyperparameters do not make a Tessera GPT: " + e.what());
  }
}

LoadedGgufModel load_llama(const io::GgufFile& f) {
  models::GPTConfig c = common_config(f, "llama");
  c.bias = false;
  c.norm = "rmsnorm";
  c.position = "rope";
  c.mlp = "swiglu";
  c.norm_eps = f.get_float("llama.attention.layer_norm_rms_epsilon");
  c.rope_theta = f.get_float("llama.rope.freq_base", 10000.0);
  const int64_t rope_dims = f.get_int("llama.rope.dimension_count", c.head_dim());
  TSR_CHECK(rope_dims == c.head_dim(), Error, f.path(), ": llama.rope.dimension_count ", rope_dims,
            " differs from the head dim ", c.head_dim(), " (partial rotary embedding is not supported)");
  if (f.has("llama.rope.scaling.type")) {
    const std::string scaling = f.get_string("llama.rope.scaling.type");
    TSR_CHECK(scaling == "none", Error, f.path(), ": rope scaling '", scaling, "' is not supported");
  }
  c.tie_embeddings = !f.find_tensor("output.weight");
  finish_config(c, f);

  const int64_t C = c.n_embd, V = c.vocab_size, H = c.hidden_dim();
  StateBuilder s(f);
  s.copy("token_embd.weight", "transformer.wte.weight", {V, C});
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".", t = "transformer.h." + std::to_string(l) + ".";
    s.copy(b + "attn_norm.weight", t + "ln_1.weight", {C});
    gguf::Rows q = gguf::unpermute_rope_rows(s.read(b + "attn_q.weight", {C, C}), c.n_head);
    gguf::Rows k = gguf::unpermute_rope_rows(s.read(b + "attn_k.weight", {C, C}), c.n_head);
    gguf::Rows v = s.read(b + "attn_v.weight", {C, C});
    s.put(t + "attn.c_attn.weight", gguf::stack_rows({q, k, v}), {3 * C, C});
    s.copy(b + "attn_output.weight", t + "attn.c_proj.weight", {C, C});
    s.copy(b + "ffn_norm.weight", t + "ln_2.weight", {C});
    s.copy(b + "ffn_gate.weight", t + "mlp.c_gate.weight", {H, C});
    s.copy(b + "ffn_up.weight", t + "mlp.c_fc.weight", {H, C});
    s.copy(b + "ffn_down.weight", t + "mlp.c_proj.weight", {C, H});
  }
  s.copy("output_norm.weight", "transformer.ln_f.weight", {C});
  if (!c.tie_embeddings) s.copy("output.weight", "lm_head.weight", {V, C});
  s.check_all_used("llama");

  LoadedGgufModel out;
  out.model = s.build(c);
  return out;
}

LoadedGgufModel load_gpt2(const io::GgufFile& f) {
  models::GPTConfig c = common_config(f, "gpt2");
  c.bias = true;
  c.norm = "layernorm";
  c.position = "learned";
  c.mlp = "gelu";
  c.norm_eps = f.get_float("gpt2.attention.layer_norm_epsilon");
  c.tie_embeddings = !f.find_tensor("output.weight");
  finish_config(c, f);

  const int64_t C = c.n_embd, V = c.vocab_size, H = c.hidden_dim(), T = c.block_size;
  StateBuilder s(f);
  s.copy("token_embd.weight", "transformer.wte.weight", {V, C});
  s.copy("position_embd.weight", "transformer.wpe.weight", {T, C});
  auto linear = [&](const std::string& from, const std::string& to, int64_t out, int64_t in) {
    s.copy(from + ".weight", to + ".weight", {out, in});
    s.copy(from + ".bias", to + ".bias", {out});
  };
  auto norm = [&](const std::string& from, const std::string& to) {
    s.copy(from + ".weight", to + ".weight", {C});
    s.copy(from + ".bias", to + ".bias", {C});
  };
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".", t = "transformer.h." + std::to_string(l) + ".";
    norm(b + "attn_norm", t + "ln_1");
    linear(b + "attn_qkv", t + "attn.c_attn", 3 * C, C);
    linear(b + "attn_output", t + "attn.c_proj", C, C);
    norm(b + "ffn_norm", t + "ln_2");
    linear(b + "ffn_up", t + "mlp.c_fc", H, C);
    linear(b + "ffn_down", t + "mlp.c_proj", C, H);
  }
  norm("output_norm", "transformer.ln_f");
  if (!c.tie_embeddings) s.copy("output.weight", "lm_head.weight", {V, C});
  s.check_all_used("gpt2");

  LoadedGgufModel out;
  out.model = s.build(c);
  return out;
}

}  // namespace

LoadedGgufModel load_gguf_model(const io::GgufFile& file) {
  const std::string arch = file.get_string("general.architecture");
  LoadedGgufModel out;
  if (arch == "llama") {
    out = load_llama(file);
  } else if (arch == "gpt2") {
    out = load_gpt2(file);
  } else {
    throw Error(file.path() + ": architecture '" + arch +
                "' is not supported (Tessera loads GGUF \"llama\" and \"gpt2\" models)");
  }
  out.architecture = arch;
  if (const io::GgufValue* n = file.find("general.name"); n && n->type == io::GgufType::String) out.name = n->string;
  return out;
}

LoadedGgufModel load_gguf_model(const std::string& path) { return load_gguf_model(io::GgufFile::open(path)); }

}  // namespace tessera::checkpoint
