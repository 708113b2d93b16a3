// BertConfig's config.json mapping and the Hugging Face BERT import/export of
// models/bert.h. Parameter names are HF's already; the only mappings are the
// optional "bert." prefix and the conversion of F16 / BF16 / F64 to F32.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/bert.h"

namespace tessera::models {

using nlohmann::json;
namespace fs = std::filesystem;

// ---- BertConfig ----

void BertConfig::validate() const {
  auto positive = [](const char* name, int64_t v) {
    TSR_CHECK(v > 0, Error, "BertConfig: ", name, " must be positive, got ", v);
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("intermediate_size", intermediate_size);
  positive("max_position_embeddings", max_position_embeddings);
  positive("type_vocab_size", type_vocab_size);
  TSR_CHECK(hidden_size % num_attention_heads == 0, Error, "BertConfig: hidden_size (", hidden_size,
            ") must be a multiple of num_attention_heads (", num_attention_heads, ")");
  TSR_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size, Error, "BertConfig: pad_token_id must be in [0, vocab_size = ",
            vocab_size, "), got ", pad_token_id);
  TSR_CHECK(hidden_dropout_prob >= 0.0 && hidden_dropout_prob < 1.0, Error,
            "BertConfig: hidden_dropout_prob must be in [0, 1), got ", hidden_dropout_prob);
  TSR_CHECK(attention_probs_dropout_prob >= 0.0 && attention_probs_dropout_prob < 1.0, Error,
            "BertConfig: attention_probs_dropout_prob must be in [0, 1), got ", attention_probs_dropout_prob);
  TSR_CHECK(layer_norm_eps > 0.0, Error, "BertConfig: layer_norm_eps must be positive, got ", layer_norm_eps);
  TSR_CHECK(hidden_act == "gelu" || hidden_act == "gelu_new" || hidden_act == "gelu_pytorch_tanh" || hidden_act == "relu",
            Error, "BertConfig: hidden_act must be \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\" or \"relu\", got \"",
            hidden_act, "\"");
}

std::string BertConfig::to_json() const {
  json j = {{"architectures", {"BertModel"}},
            {"model_type", "bert"},
            {"vocab_size", vocab_size},
            {"hidden_size", hidden_size},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"intermediate_size", intermediate_size},
            {"hidden_act", hidden_act},
            {"hidden_dropout_prob", hidden_dropout_prob},
            {"attention_probs_dropout_prob", attention_probs_dropout_prob},
            {"max_position_embeddings", max_position_embeddings},
            {"type_vocab_size", type_vocab_size},
            {"initializer_range", 0.02},
            {"layer_norm_eps", layer_norm_eps},
            {"pad_token_id", pad_token_id},
            {"position_embedding_type", "absolute"},
            {"use_cache", true},
            {"torch_dtype", "float32"}};
  return j.dump(2) + "\n";
}

BertConfig BertConfig::from_json(const std::string& text, const std::string& origin) {
  const json j = io::parse_json(text, std::string("BertConfig: '") + origin + "' is not valid JSON: ");
  TSR_CHECK(j.is_object(), Error, "BertConfig: '", origin, "' must hold a JSON object");
  auto present = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  auto integer = [&](const char* key, int64_t& field) {
    if (!present(key)) return;
    TSR_CHECK(j[key].is_number_integer(), Error, "BertConfig: '", origin, "': \"", key, "\" must be an integer, got ",
              j[key].dump());
    field = j[key].get<int64_t>();
  };
  auto number = [&](const char* key, double& field) {
    if (!present(key)) return;
    TSR_CHECK(j[key].is_number(), Error, "BertConfig: '", origin, "': \"", key, "\" must be a number, got ",
              j[key].dump());
    field = j[key].get<double>();
  };
  auto text_of = [&](const char* key, std::string& field) {
    if (!present(key)) return;
    TSR_CHECK(j[key].is_string(), Error, "BertConfig: '", origin, "': \"", key, "\" must be a string, got ",
              j[key].dump());
    field = j[key].get<std::string>();
  };
  auto flag_set = [&](const char* key) { return present(key) && j[key].is_boolean() && j[key].get<bool>(); };

  std::string s;
  text_of("model_type", s);
  TSR_CHECK(s.empty() || s == "bert", Error, "BertConfig: '", origin, "': model_type is \"", s, "\", expected \"bert\"");
  s = "absolute";
  text_of("position_embedding_type", s);
  TSR_CHECK(s == "absolute", Error, "BertConfig: '", origin, "': position_embedding_type \"", s,
            "\" is not supported (only \"absolute\")");
  TSR_CHECK(!flag_set("is_decoder"), Error, "BertConfig: '", origin,
            "': is_decoder true is not supported (BertModel here is an encoder)");
  TSR_CHECK(!flag_set("add_cross_attention"), Error, "BertConfig: '", origin,
            "': add_cross_attention true is not supported");

  BertConfig c;
  integer("vocab_size", c.vocab_size);
  integer("hidden_size", c.hidden_size);
  integer("num_hidden_layers", c.num_hidden_layers);
  integer("num_attention_heads", c.num_attention_heads);
  integer("intermediate_size", c.intermediate_size);
  integer("max_position_embeddings", c.max_position_embeddings);
  integer("type_vocab_size", c.type_vocab_size);
  integer("pad_token_id", c.pad_token_id);
  number("hidden_dropout_prob", c.hidden_dropout_prob);
  number("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  number("layer_norm_eps", c.layer_norm_eps);
  text_of("hidden_act", c.hidden_act);
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(std::string("BertConfig: '") + origin + "': " + e.what());
  }
  return c;
}

// ---- load / save ----

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const int exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(man), -24);  // zero or subnormal
    return sign ? -f : f;
  }
  const uint32_t bits = exp == 31 ? sign | 0x7f800000u | (man << 13)  // inf / NaN
                                  : sign | static_cast<uint32_t>(exp - 15 + 127) << 23 | (man << 13);
  std::memcpy(&f, &bits, 4);
  return f;
}

// One tensor of the file as float32 (the header is validated already).
Tensor read_f32(std::ifstream& in, const io::SafetensorsHeader& h, const io::SafetensorsEntry& e,
                const std::string& path) {
  const uint64_t bytes = e.end - e.begin;
  std::vector<char> buf(bytes);
  in.seekg(static_cast<std::streamoff>(h.data_start + e.begin));
  in.read(buf.data(), static_cast<std::streamsize>(bytes));
  TSR_CHECK(in.good(), Error, "HF BERT: cannot read tensor '", e.name, "' from '", path, "'");
  Tensor t = empty(e.shape);
  float* out = t.data<float>();
  const int64_t n = t.numel();
  if (e.dtype == "F32") {
    std::memcpy(out, buf.data(), bytes);
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    const bool half = e.dtype == "F16";
    for (int64_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, buf.data() + 2 * i, 2);
      if (half) {
        out[i] = half_to_float(v);
      } else {
        bf16 b;
        b.bits = v;
        out[i] = static_cast<float>(b);
      }
    }
  } else if (e.dtype == "F64") {
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, buf.data() + 8 * i, 8);
      out[i] = static_cast<float>(v);
    }
  } else {
    throw DTypeError("HF BERT: tensor '" + e.name + "' in '" + path + "' has dtype " + e.dtype +
                     "; expected F32, F16, BF16 or F64");
  }
  return t;
}

bool starts_with(const std::string& s, const std::string& head) { return s.rfind(head, 0) == 0; }

}  // namespace

std::shared_ptr<BertModel> load_hf_bert(const std::string& folder) {
  const fs::path dir(folder);
  const fs::path cfg_path = dir / "config.json", st_path = dir / "model.safetensors";
  TSR_CHECK(fs::is_regular_file(cfg_path), Error, "HF BERT: '", cfg_path.string(), "' not found");
  if (!fs::is_regular_file(st_path)) {
    TSR_CHECK(!fs::is_regular_file(dir / "pytorch_model.bin"), Error, "HF BERT: '", folder,
              "' holds pytorch_model.bin but no model.safetensors; convert it with: python "
              "scripts/convert_pytorch_bin.py ",
              folder);
    throw Error("HF BERT: '" + st_path.string() + "' not found");
  }
  const BertConfig c = BertConfig::from_json(io::read_file(cfg_path.string(), "HF BERT"), cfg_path.string());
  const std::string path = st_path.string();
  const io::SafetensorsHeader header = io::read_safetensors_header(path);

  // Map file names to model names; decide on the pooler from the file.
  std::vector<std::pair<std::string, const io::SafetensorsEntry*>> wanted;  // (model name, entry)
  bool pooler = false;
  for (const auto& e : header.tensors) {
    const std::string name = starts_with(e.name, "bert.") ? e.name.substr(5) : e.name;
    if (starts_with(name, "cls.") || starts_with(name, "classifier.") || name == "embeddings.position_ids" ||
        name == "embeddings.token_type_ids")
      continue;  // heads of other BERT classes, index buffers
    pooler = pooler || starts_with(name, "pooler.");
    wanted.emplace_back(name, &e);
  }
  auto model = std::make_shared<BertModel>(c, 0, pooler);
  const nn::StateDict expected = model->state_dict();
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const auto& [name, e] : wanted) {
    TSR_CHECK(seen.insert(name).second, Error, "HF BERT: '", path, "' holds '", name,
              "' both with and without the \"bert.\" prefix");
    auto it = expected.find(name);
    if (it == expected.end())
      problems.push_back("unexpected tensor '" + e->name + "' " + shape_str(e->shape));
    else if (it->second.shape() != e->shape)
      problems.push_back("tensor '" + e->name + "' has shape " + shape_str(e->shape) + ", expected " +
                         shape_str(it->second.shape()));
  }
  for (const auto& [name, t] : expected)
    if (!seen.count(name)) problems.push_back("missing tensor '" + name + "' " + shape_str(t.shape()));
  if (!problems.empty()) {
    std::string msg = "HF BERT: '" + path + "' does not match config.json:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  std::ifstream in(st_path, std::ios::binary);
  TSR_CHECK(in.good(), Error, "HF BERT: cannot open '", path, "'");
  nn::StateDict state;
  for (const auto& [name, e] : wanted) state[name] = read_f32(in, header, *e, path);
  model->load_state_dict(state, true);
  model->eval();  // as from_pretrained
  return model;
}

void save_hf_bert(const BertModel& model, const std::string& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  TSR_CHECK(!ec, Error, "HF BERT export: cannot create folder '", folder, "': ", ec.message());
  io::TensorMap out;
  for (const auto& [name, t] : model.state_dict()) out[name] = t;
  // Weights first, config last: a folder with a config.json is complete.
  io::save_safetensors((fs::path(folder) / "model.safetensors").string(), out, {{"format", "pt"}});
  io::write_file_atomic((fs::path(folder) / "config.json").string(), model.config().to_json());
}

}  // namespace tessera::models
