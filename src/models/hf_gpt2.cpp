// Hugging Face GPT-2 import/export of models/hf_gpt2.h. The name mapping is
// the identity except for the optional "transformer." prefix; the layout
// mapping is a transpose of the four Conv1D weights per block.
#include "tessera/models/hf_gpt2.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tessera/autograd/grad_mode.h"
#include "io/json_reader.h"
#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"

namespace tessera::models {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// HF Conv1D weights: stored (in, out), Tessera keeps (out, in).
bool is_conv1d_weight(const std::string& name) {
  return ends_with(name, ".attn.c_attn.weight") || ends_with(name, ".attn.c_proj.weight") ||
         ends_with(name, ".mlp.c_fc.weight") || ends_with(name, ".mlp.c_proj.weight");
}

}  // namespace

GPTConfig gpt2_config_from_hf(const std::string& text, const std::string& origin) {
  const json j = io::parse_json(text, std::string("HF GPT-2: '") + origin + "' is not valid JSON: ");
  TSR_CHECK(j.is_object(), Error, "HF GPT-2: '", origin, "' must hold a JSON object");
  auto integer = [&](const char* key, bool required, int64_t fallback) -> int64_t {
    if (!j.contains(key) || j[key].is_null()) {
      TSR_CHECK(!required, Error, "HF GPT-2: '", origin, "' lacks \"", key, "\"");
      return fallback;
    }
    TSR_CHECK(j[key].is_number_integer(), Error, "HF GPT-2: '", origin, "': \"", key, "\" must be an integer, got ",
              j[key].dump());
    return j[key].get<int64_t>();
  };
  auto number = [&](const char* key, double fallback) -> double {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    TSR_CHECK(j[key].is_number(), Error, "HF GPT-2: '", origin, "': \"", key, "\" must be a number, got ",
              j[key].dump());
    return j[key].get<double>();
  };
  auto flag = [&](const char* key, bool fallback) -> bool {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    TSR_CHECK(j[key].is_boolean(), Error, "HF GPT-2: '", origin, "': \"", key, "\" must be true or false, got ",
              j[key].dump());
    return j[key].get<bool>();
  };
  if (j.contains("model_type"))
    TSR_CHECK(j["model_type"] == "gpt2", Error, "HF GPT-2: '", origin, "': model_type is ", j["model_type"].dump(),
              ", expected \"gpt2\"");
  const std::string act = j.value("activation_function", std::string("gelu_new"));
  TSR_CHECK(act == "gelu_new" || act == "gelu_pytorch_tanh", Error, "HF GPT-2: '", origin,
            "': activation_function \"", act,
            "\" is not supported (Tessera's GPT uses the tanh GELU: \"gelu_new\" or \"gelu_pytorch_tanh\")");
  TSR_CHECK(flag("scale_attn_weights", true), Error, "HF GPT-2: '", origin,
            "': scale_attn_weights false is not supported");
  TSR_CHECK(!flag("scale_attn_by_inverse_layer_idx", false), Error, "HF GPT-2: '", origin,
            "': scale_attn_by_inverse_layer_idx true is not supported");
  TSR_CHECK(!flag("add_cross_attention", false), Error, "HF GPT-2: '", origin,
            "': add_cross_attention true is not supported (decoder-only)");
  const double resid = number("resid_pdrop", 0.1), embd = number("embd_pdrop", 0.1), attn = number("attn_pdrop", 0.1);
  TSR_CHECK(resid == embd && resid == attn, Error, "HF GPT-2: '", origin, "': resid_pdrop (", resid,
            "), embd_pdrop (", embd, ") and attn_pdrop (", attn, ") differ; Tessera's GPT has one dropout rate");
  GPTConfig c;
  c.vocab_size = integer("vocab_size", true, 0);
  c.block_size = integer("n_positions", true, 0);
  c.n_embd = integer("n_embd", true, 0);
  c.n_layer = integer("n_layer", true, 0);
  c.n_head = integer("n_head", true, 0);
  c.mlp_hidden = integer("n_inner", false, 0);
  c.norm_eps = number("layer_norm_epsilon", 1e-5);
  c.dropout = resid;
  c.tie_embeddings = flag("tie_word_embeddings", true);
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(std::string("HF GPT-2: '") + origin + "': " + e.what());
  }
  return c;
}

std::string gpt2_config_to_hf(const GPTConfig& c) {
  TSR_CHECK(c.norm == "layernorm" && c.position == "learned" && c.mlp == "gelu" && c.bias, Error,
            "HF GPT-2 export: only the GPT-2 architecture exports (norm layernorm, position learned, mlp gelu, "
            "bias true); got norm ", c.norm, ", position ", c.position, ", mlp ", c.mlp, ", bias ",
            c.bias ? "true" : "false");
  json j = {{"architectures", {"GPT2LMHeadModel"}},
            {"model_type", "gpt2"},
            {"vocab_size", c.vocab_size},
            {"n_positions", c.block_size},
            {"n_ctx", c.block_size},
            {"n_embd", c.n_embd},
            {"n_layer", c.n_layer},
            {"n_head", c.n_head},
            {"n_inner", c.mlp_hidden > 0 ? json(c.mlp_hidden) : json(nullptr)},
            {"activation_function", "gelu_new"},
            {"resid_pdrop", c.dropout},
            {"embd_pdrop", c.dropout},
            {"attn_pdrop", c.dropout},
            {"layer_norm_epsilon", c.norm_eps},
            {"initializer_range", 0.02},
            {"scale_attn_weights", true},
            {"scale_attn_by_inverse_layer_idx", false},
            {"reorder_and_upcast_attn", false},
            {"tie_word_embeddings", c.tie_embeddings},
            // GPT-2's <|endoftext|> only when the vocabulary is GPT-2's; transformers
            // warns about (and generation misuses) an id outside the vocabulary.
            {"bos_token_id", c.vocab_size == 50257 ? json(50256) : json(nullptr)},
            {"eos_token_id", c.vocab_size == 50257 ? json(50256) : json(nullptr)},
            {"torch_dtype", "float32"}};
  return j.dump(2) + "\n";
}

std::shared_ptr<GPT> load_hf_gpt2(const std::string& folder) {
  const fs::path dir(folder);
  const fs::path cfg_path = dir / "config.json", st_path = dir / "model.safetensors";
  TSR_CHECK(fs::is_regular_file(cfg_path), Error, "HF GPT-2: '", cfg_path.string(), "' not found");
  TSR_CHECK(fs::is_regular_file(st_path), Error, "HF GPT-2: '", st_path.string(),
            "' not found (only safetensors weights are read; convert pytorch_model.bin with save_pretrained)");
  GPTConfig c = gpt2_config_from_hf(io::read_file(cfg_path.string(), "HF GPT-2"), cfg_path.string());
  io::TensorMap file = io::load_safetensors(st_path.string()).tensors;

  auto model = std::make_shared<GPT>(c);
  nn::StateDict expected = model->state_dict();
  nn::StateDict state;
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (auto& [raw, t] : file) {
    std::string name = raw.rfind("transformer.", 0) == 0 || raw.rfind("lm_head.", 0) == 0 ? raw : "transformer." + raw;
    if (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias")) continue;  // mask buffers
    if (name == "lm_head.weight" && c.tie_embeddings) continue;  // HF ties it to wte
    auto it = expected.find(name);
    if (it == expected.end()) {
      problems.push_back("unexpected tensor '" + raw + "' " + shape_str(t.shape()));
      continue;
    }
    TSR_CHECK(seen.insert(name).second, Error, "HF GPT-2: '", st_path.string(), "' holds '", name,
              "' both with and without the \"transformer.\" prefix");
    Shape want = it->second.shape();
    if (is_conv1d_weight(name)) std::swap(want[0], want[1]);
    if (t.shape() != want) {
      problems.push_back("tensor '" + raw + "' has shape " + shape_str(t.shape()) + ", expected " + shape_str(want) +
                         (is_conv1d_weight(name) ? " (Conv1D layout: in, out)" : ""));
      continue;
    }
    TSR_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64 || t.dtype() == DType::BF16, DTypeError,
              "HF GPT-2: tensor '", raw, "' has dtype ", dtype_name(t.dtype()), "; expected F32, BF16 or F64");
    Tensor v = t.to(DType::F32);
    state[name] = is_conv1d_weight(name) ? v.t() : v;
  }
  for (const auto& [name, t] : expected)
    if (!state.count(name)) problems.push_back("missing tensor '" + name + "' " + shape_str(t.shape()));
  if (!problems.empty()) {
    std::string msg = "HF GPT-2: '" + st_path.string() + "' does not match config.json:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  model->load_state_dict(state, true);
  return model;
}

void export_hf_gpt2(const GPT& model, const std::string& folder) {
  const std::string cfg = gpt2_config_to_hf(model.config());  // checks the architecture first
  std::error_code ec;
  fs::create_directories(folder, ec);
  TSR_CHECK(!ec, Error, "HF GPT-2 export: cannot create folder '", folder, "': ", ec.message());
  io::TensorMap out;
  for (const auto& [name, t] : model.state_dict()) out[name] = is_conv1d_weight(name) ? t.t().contiguous() : t;
  // Weights first, config last: a folder with a config.json is complete.
  io::save_safetensors((fs::path(folder) / "model.safetensors").string(), out, {{"format", "pt"}});
  io::write_file_atomic((fs::path(folder) / "config.json").string(), cfg);
}

}  // namespace tessera::models
