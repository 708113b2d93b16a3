// models::GPT -> GGUF for llama.cpp (checkpoint/gguf_model.h's export_gguf):
// the hyperparameter keys llama.cpp reads for its gpt2 and llama
// architectures, the GPT-2 BPE vocabulary, and the weights renamed (llama's
// q/k rows permuted to llama.cpp's interleaved rope pairs).
#include <optional>
#include <string>
#include <vector>

#include "gguf_rows.h"
#include "tessera/checkpoint/gguf_model.h"
#include "tessera/core/error.h"
#include "tessera/quant/quantize_model.h"
#include "tessera/text/bpe.h"

namespace tessera::checkpoint {

namespace {

using io::GgmlType;
using io::GgufValue;

// llama.cpp's token types (llama_token_type).
constexpr int64_t kTokenNormal = 1, kTokenControl = 3, kTokenUnused = 5;

// general.file_type (llama_ftype) for the chosen weight type.
uint32_t file_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q8_0: return 7;
    default: return 0;
  }
}

GgmlType weight_type(const std::string& dtype) {
  if (dtype == "f32" || dtype == "fp32") return GgmlType::F32;
  if (dtype == "f16" || dtype == "fp16") return GgmlType::F16;
  if (dtype == "q8_0") return GgmlType::Q8_0;
  if (dtype == "q4_0") return GgmlType::Q4_0;
  throw Error("GGUF export: --dtype '" + dtype + "' is not one of f32, f16, q8_0, q4_0");
}

// The GPT-2 BPE vocabulary in llama.cpp's "gpt2" tokenizer keys.
void write_vocab(io::GgufWriter& w, const text::Tokenizer& tokenizer, int64_t model_vocab) {
  const auto* bpe = dynamic_cast<const text::ByteLevelBPE*>(&tokenizer);
  TSR_CHECK(bpe, Error, "GGUF export: the model's tokenizer is a ", tokenizer.kind(),
            " tokenizer; llama.cpp reads byte-level BPE (GPT-2's) or SentencePiece vocabularies only, so a ",
            tokenizer.kind(), " vocabulary cannot be written (train a BPE tokenizer: tessera tokenizer train)");
  const int64_t n = bpe->vocab_size();
  TSR_CHECK(n <= model_vocab, Error, "GGUF export: the tokenizer has ", n, " ids but the model only ", model_vocab);
  std::vector<std::string> tokens(static_cast<size_t>(model_vocab));
  std::vector<int64_t> types(static_cast<size_t>(model_vocab), kTokenNormal);
  for (int64_t id = 0; id < n; ++id) tokens[size_t(id)] = text::bytes_to_unicode(bpe->token_bytes(int32_t(id)));
  for (const auto& [text, id] : bpe->specials()) {
    tokens[size_t(id)] = text;
    types[size_t(id)] = kTokenControl;
  }
  for (int64_t id = n; id < model_vocab; ++id) {  // a padded embedding matrix (50304 for 50257)
    tokens[size_t(id)] = "[PAD" + std::to_string(id) + "]";
    types[size_t(id)] = kTokenUnused;
  }
  std::vector<std::string> merges;
  merges.reserve(bpe->merges().size());
  for (const auto& [a, b] : bpe->merges())
    merges.push_back(text::bytes_to_unicode(bpe->token_bytes(a)) + " " + text::bytes_to_unicode(bpe->token_bytes(b)));
  w.set("tokenizer.ggml.model", GgufValue::of_string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::of_string("gpt-2"));
  w.set("tokenizer.ggml.tokens", GgufValue::of_strings(std::move(tokens)));
  w.set("tokenizer.ggml.token_type", GgufValue::of_int32s(std::move(types)));
  w.set("tokenizer.ggml.merges", GgufValue::of_strings(std::move(merges)));
  if (auto eot = bpe->eot_id()) {
    w.set("tokenizer.ggml.bos_token_id", GgufValue::of_uint32(uint32_t(*eot)));
    w.set("tokenizer.ggml.eos_token_id", GgufValue::of_uint32(uint32_t(*eot)));
  }
  w.set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(false));
}

// The file type of a packed matrix, when GGUF has one.
std::optional<GgmlType> ggml_type_of(quant::WeightFormat f) {
  if (f == quant::WeightFormat::Q8_0) return GgmlType::Q8_0;
  if (f == quant::WeightFormat::Q4_0) return GgmlType::Q4_0;
  return std::nullopt;
}

class TensorWriter {
 public:
  TensorWriter(io::GgufWriter& w, const nn::StateDict& state, const quant::PackedMap& packed, GgmlType matrix_type)
      : w_(w), state_(state), packed_(packed), matrix_type_(matrix_type) {}

  // A parameter's float32 values (a packed one dequantized).
  Tensor get(const std::string& name) const {
    if (auto it = state_.find(name); it != state_.end()) return it->second;
    auto p = packed_.find(name);
    TSR_CHECK(p != packed_.end(), Error, "GGUF export: the model has no parameter '", name, "'");
    return quant::unpack(p->second);
  }
  // A weight matrix in the chosen type (rows too short for its blocks: F16).
  void matrix(const std::string& gguf_name, const Tensor& t) {
    GgmlType type = matrix_type_;
    if ((type == GgmlType::Q8_0 || type == GgmlType::Q4_0) && t.size(1) % 32 != 0) type = GgmlType::F16;
    add(gguf_name, gguf::from_float(t, type));
  }
  // A packed matrix already in the chosen block format keeps its blocks.
  void matrix(const std::string& gguf_name, const std::string& name) {
    if (auto p = packed_.find(name); p != packed_.end() && ggml_type_of(p->second.format) == matrix_type_) {
      const quant::PackedWeight& w = p->second;
      add(gguf_name, gguf::Rows{matrix_type_, w.rows, w.cols, quant::to_bytes(w)});
      return;
    }
    matrix(gguf_name, get(name));
  }
  // Norm weights, biases, position embeddings: float32.
  void f32(const std::string& gguf_name, const Tensor& t) {
    add(gguf_name, gguf::from_float(t, GgmlType::F32), t.dim() == 1);
  }
  void f32(const std::string& gguf_name, const std::string& name) { f32(gguf_name, get(name)); }
  // A vector of n zeros (LayerNorm or Linear without a bias, which llama.cpp's gpt2 needs).
  void zeros(const std::string& gguf_name, int64_t n) { f32(gguf_name, tessera::zeros({n})); }

  void add(const std::string& gguf_name, gguf::Rows r, bool vector = false) {
    std::vector<int64_t> dims = vector ? std::vector<int64_t>{r.cols} : std::vector<int64_t>{r.cols, r.rows};
    w_.add_tensor(gguf_name, std::move(dims), r.type, std::move(r.bytes));
  }

 private:
  io::GgufWriter& w_;
  const nn::StateDict& state_;
  const quant::PackedMap& packed_;
  GgmlType matrix_type_;
};

void write_common(io::GgufWriter& w, const std::string& arch, const models::GPTConfig& c) {
  w.set(arch + ".context_length", GgufValue::of_uint32(uint32_t(c.block_size)));
  w.set(arch + ".embedding_length", GgufValue::of_uint32(uint32_t(c.n_embd)));
  w.set(arch + ".block_count", GgufValue::of_uint32(uint32_t(c.n_layer)));
  w.set(arch + ".feed_forward_length", GgufValue::of_uint32(uint32_t(c.hidden_dim())));
  w.set(arch + ".attention.head_count", GgufValue::of_uint32(uint32_t(c.n_head)));
}

void write_gpt2(io::GgufWriter& w, TensorWriter& t, const models::GPTConfig& c) {
  write_common(w, "gpt2", c);
  w.set("gpt2.attention.layer_norm_epsilon", GgufValue::of_float32(float(c.norm_eps)));
  const int64_t C = c.n_embd, H = c.hidden_dim();
  t.matrix("token_embd.weight", "transformer.wte.weight");
  t.f32("position_embd.weight", t.get("transformer.wpe.weight").contiguous().view({c.block_size, C}));
  auto bias = [&](const std::string& to, const std::string& from, int64_t n) {
    if (c.bias) t.f32(to, from);
    else t.zeros(to, n);
  };
  auto norm = [&](const std::string& to, const std::string& from) {
    t.f32(to + ".weight", from + ".weight");
    bias(to + ".bias", from + ".bias", C);
  };
  auto linear = [&](const std::string& to, const std::string& from, int64_t out) {
    t.matrix(to + ".weight", from + ".weight");
    bias(to + ".bias", from + ".bias", out);
  };
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".", h = "transformer.h." + std::to_string(l) + ".";
    norm(b + "attn_norm", h + "ln_1");
    linear(b + "attn_qkv", h + "attn.c_attn", 3 * C);
    linear(b + "attn_output", h + "attn.c_proj", C);
    norm(b + "ffn_norm", h + "ln_2");
    linear(b + "ffn_up", h + "mlp.c_fc", H);
    linear(b + "ffn_down", h + "mlp.c_proj", C);
  }
  norm("output_norm", "transformer.ln_f");
}

void write_llama(io::GgufWriter& w, TensorWriter& t, const models::GPTConfig& c) {
  write_common(w, "llama", c);
  w.set("llama.attention.head_count_kv", GgufValue::of_uint32(uint32_t(c.n_head)));
  w.set("llama.rope.dimension_count", GgufValue::of_uint32(uint32_t(c.head_dim())));
  w.set("llama.rope.freq_base", GgufValue::of_float32(float(c.rope_theta)));
  w.set("llama.attention.layer_norm_rms_epsilon", GgufValue::of_float32(float(c.norm_eps)));
  w.set("llama.vocab_size", GgufValue::of_uint32(uint32_t(c.vocab_size)));
  const int64_t C = c.n_embd;
  t.matrix("token_embd.weight", "transformer.wte.weight");
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".", h = "transformer.h." + std::to_string(l) + ".";
    t.f32(b + "attn_norm.weight", h + "ln_1.weight");
    const Tensor qkv = t.get(h + "attn.c_attn.weight").contiguous();  // (3C, C): q, k, v rows (re-packed below)
    // q and k in llama.cpp's interleaved rope order (whole rows move, before quantizing).
    auto permuted = [&](int64_t part) {
      gguf::Rows r = gguf::from_float(qkv.narrow(0, part * C, C), GgmlType::F32);
      return gguf::to_float(gguf::permute_rope_rows(r, c.n_head));
    };
    t.matrix(b + "attn_q.weight", permuted(0));
    t.matrix(b + "attn_k.weight", permuted(1));
    t.matrix(b + "attn_v.weight", qkv.narrow(0, 2 * C, C));
    t.matrix(b + "attn_output.weight", h + "attn.c_proj.weight");
    t.f32(b + "ffn_norm.weight", h + "ln_2.weight");
    t.matrix(b + "ffn_gate.weight", h + "mlp.c_gate.weight");
    t.matrix(b + "ffn_up.weight", h + "mlp.c_fc.weight");
    t.matrix(b + "ffn_down.weight", h + "mlp.c_proj.weight");
  }
  t.f32("output_norm.weight", "transformer.ln_f.weight");
}

}  // namespace

void export_gguf(const models::GPT& model, const text::Tokenizer& tokenizer, const std::string& path,
                 const GgufExportOptions& options) {
  const models::GPTConfig& c = model.config();
  const bool gpt2 = c.position == "learned" && c.norm == "layernorm" && c.mlp == "gelu";
  const bool llama = c.position == "rope" && c.norm == "rmsnorm" && c.mlp == "swiglu";
  TSR_CHECK(gpt2 || llama, Error, "GGUF export: position \"", c.position, "\", norm \"", c.norm, "\" and mlp \"", c.mlp,
            "\" match neither llama.cpp's gpt2 (learned, layernorm, gelu) nor its llama (rope, rmsnorm, swiglu)");
  TSR_CHECK(!llama || !c.bias, Error,
            "GGUF export: a rope/rmsnorm/swiglu model with \"bias\": true has no llama.cpp architecture (llama has "
            "no biases)");
  const GgmlType matrix_type = weight_type(options.dtype);
  const std::string arch = gpt2 ? "gpt2" : "llama";
  io::GgufWriter w;
  w.set("general.architecture", GgufValue::of_string(arch));
  w.set("general.name", GgufValue::of_string(options.name.empty() ? "tessera-gpt" : options.name));
  w.set("general.file_type", GgufValue::of_uint32(file_type(matrix_type)));
  const nn::StateDict state = model.state_dict();
  // packed_weights only reads; it takes the module non-const to walk it.
  const quant::PackedMap packed = quant::packed_weights(const_cast<models::GPT&>(model));
  TensorWriter t(w, state, packed, matrix_type);
  if (gpt2) write_gpt2(w, t, c);
  else write_llama(w, t, c);
  if (!c.tie_embeddings) t.matrix("output.weight", "lm_head.weight");
  write_vocab(w, tokenizer, c.vocab_size);
  w.write(path);
}

}  // namespace tessera::checkpoint
