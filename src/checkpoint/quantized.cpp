// Quantized GPT checkpoints (checkpoint/quantized.h).
#include "tessera/checkpoint/quantized.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/quant/quantize_model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::checkpoint {

namespace {

constexpr const char* kPackedKey = "tessera.packed";

std::string tensor_bytes(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
}

// The stored form of one packed matrix (quantized.h's table).
void store(const std::string& name, const quant::PackedWeight& w, io::RawTensorMap& out) {
  using quant::WeightFormat;
  std::string bytes = quant::to_bytes(w);
  switch (w.format) {
    case WeightFormat::F32: out[name] = {"F32", {w.rows, w.cols}, std::move(bytes)}; break;
    case WeightFormat::BF16: out[name] = {"BF16", {w.rows, w.cols}, std::move(bytes)}; break;
    case WeightFormat::Int8: {
      out[name] = {"I8", {w.rows, w.cols}, std::move(bytes)};
      std::string scales(reinterpret_cast<const char*>(w.row_scale.data()), w.row_scale.size() * 4);
      out[name + ".scale"] = {"F32", {w.rows}, std::move(scales)};
      break;
    }
    case WeightFormat::Q8_0:
    case WeightFormat::Q4_0:
      out[name] = {"U8", {w.rows, quant::row_bytes(w.format, w.cols)}, std::move(bytes)};
      break;
  }
}

const char* stored_dtype(quant::WeightFormat f) {
  switch (f) {
    case quant::WeightFormat::F32: return "F32";
    case quant::WeightFormat::BF16: return "BF16";
    case quant::WeightFormat::Int8: return "I8";
    default: return "U8";
  }
}

}  // namespace

QuantizeSummary write_quantized_gpt(models::GPT& model, const text::Tokenizer& tokenizer, int64_t step,
                                    quant::WeightFormat format, const std::string& source, const std::string& out_dir,
                                    bool overwrite, std::optional<quant::WeightFormat> embedding_format) {
  const fs::path dir(out_dir);
  TSR_CHECK(overwrite || !fs::exists(dir / "config.json"), Error, out_dir,
            " already holds a checkpoint (config.json); choose another --out");
  fs::create_directories(dir);
  QuantizeSummary summary;
  summary.out_dir = out_dir;
  summary.format = format;
  const std::string wte = "transformer.wte.weight";
  const std::set<std::string> keep{"transformer.wpe.weight", wte};  // position rows: small, and precision-sensitive
  summary.embedding_format =
      embedding_format.value_or(format == quant::WeightFormat::Q4_0 ? quant::WeightFormat::Q8_0 : format);

  // Start from float32 weights: a packed model is dequantized first (so
  // re-quantizing a q8_0 checkpoint to q4_0 rounds the dequantized values).
  if (!quant::packed_weights(model).empty()) quant::dequantize(model);
  for (const auto& [name, t] : model.state_dict()) summary.bytes_before += t.numel() * 4;
  quant::PackedMap packed;
  if (format != quant::WeightFormat::F32) {
    quant::QuantizeResult q = quant::quantize_weights(model, format, keep);
    packed = std::move(q.packed);
    summary.kept_f32 = std::move(q.skipped);
  }
  if (summary.embedding_format != quant::WeightFormat::F32) {
    std::set<std::string> all_but_wte;
    for (const auto& [name, t] : model.state_dict())
      if (name != wte) all_but_wte.insert(name);
    quant::QuantizeResult e = quant::quantize_weights(model, summary.embedding_format, all_but_wte);
    for (auto& [name, w] : e.packed) packed.emplace(name, std::move(w));
    for (auto& name : e.skipped) summary.kept_f32.push_back(name);
  }
  summary.packed_tensors = static_cast<int64_t>(packed.size());

  io::RawTensorMap tensors;
  json packed_meta = json::object();
  for (const auto& [name, t] : model.state_dict()) {
    if (packed.count(name)) continue;
    tensors[name] = {"F32", t.shape(), tensor_bytes(t.to(DType::F32))};
  }
  for (const auto& [name, w] : packed) {
    store(name, w, tensors);
    packed_meta[name] = {{"format", quant::format_name(w.format)}, {"rows", w.rows}, {"cols", w.cols}};
  }
  for (const auto& [name, t] : tensors) summary.bytes_after += static_cast<int64_t>(t.bytes.size());
  io::save_safetensors_raw((dir / "model.safetensors").string(), tensors,
                           {{"format", "pt"}, {kPackedKey, packed_meta.dump()}});
  tokenizer.save((dir / "tokenizer.json").string());

  json cfg = {{"format_version", 1},
              {"task", "language_model"},
              {"model", json::parse(model.config().to_json())},
              {"step", step},
              {"weight_format", quant::format_name(format)},
              {"embedding_format", quant::format_name(summary.embedding_format)},
              {"quantized_from", source}};
  io::write_file_atomic((dir / "config.json").string(), cfg.dump(2) + "\n");
  return summary;
}

std::string weight_format_of(const Found& f) {
  const json cfg = json::parse(f.config_json, nullptr, false);
  if (!cfg.is_object() || !cfg.contains("weight_format")) return "";
  const std::string cfg_path = (fs::path(f.dir) / "config.json").string();
  TSR_CHECK(cfg["weight_format"].is_string(), Error, cfg_path, ": \"weight_format\" must be a string");
  const std::string name = cfg["weight_format"].get<std::string>();
  try {
    quant::parse_format(name);
  } catch (const Error& e) {
    throw Error(detail::concat(cfg_path, ": \"weight_format\": ", e.what()));
  }
  return name;
}

std::shared_ptr<models::GPT> load_quantized_gpt(const Found& f, const models::GPTConfig& config) {
  const std::string path = (fs::path(f.dir) / "model.safetensors").string();
  TSR_CHECK(fs::exists(path), Error, "checkpoint ", f.dir, " has no model.safetensors");
  io::RawSafetensors file = io::load_safetensors_raw(path);
  json meta = json::object();
  if (auto it = file.metadata.find(kPackedKey); it != file.metadata.end()) {
    meta = json::parse(it->second, nullptr, false);
    TSR_CHECK(meta.is_object(), Error, path, ": metadata \"", kPackedKey, "\" is not a JSON object");
  }
  quant::PackedMap packed;
  for (const auto& [name, info] : meta.items()) {
    auto bad = [&](const std::string& what) { return Error(detail::concat(path, ": packed tensor '", name, "': ", what)); };
    if (!info.is_object() || !info.contains("format") || !info["format"].is_string() || !info.contains("rows") ||
        !info["rows"].is_number_integer() || !info.contains("cols") || !info["cols"].is_number_integer())
      throw bad("metadata needs {\"format\": string, \"rows\": int, \"cols\": int}");
    quant::WeightFormat fmt;
    try {
      fmt = quant::parse_format(info["format"].get<std::string>());
    } catch (const Error& e) {
      throw bad(e.what());
    }
    const int64_t rows = info["rows"].get<int64_t>(), cols = info["cols"].get<int64_t>();
    if (rows <= 0 || cols <= 0 || rows > (int64_t(1) << 32) || cols > (int64_t(1) << 32)) throw bad("bad rows/cols");
    auto t = file.tensors.find(name);
    if (t == file.tensors.end()) throw bad("listed in the metadata but not stored");
    if (t->second.dtype != stored_dtype(fmt)) throw bad("stored as " + t->second.dtype + ", expected " + stored_dtype(fmt));
    const float* scales = nullptr;
    std::string scale_bytes;
    if (fmt == quant::WeightFormat::Int8) {
      auto s = file.tensors.find(name + ".scale");
      if (s == file.tensors.end() || s->second.dtype != "F32" || s->second.bytes.size() != static_cast<size_t>(rows) * 4)
        throw bad("needs '" + name + ".scale' F32 of " + std::to_string(rows) + " values");
      scale_bytes = std::move(s->second.bytes);
      scales = reinterpret_cast<const float*>(scale_bytes.data());
      file.tensors.erase(s);
    }
    try {
      packed.emplace(name, quant::from_bytes(fmt, rows, cols, t->second.bytes.data(), t->second.bytes.size(), scales));
    } catch (const Error& e) {
      throw bad(e.what());
    }
    file.tensors.erase(t);
  }
  io::TensorMap state;
  for (auto& [name, raw] : file.tensors) {
    TSR_CHECK(raw.dtype == "F32", Error, path, ": tensor '", name, "' is ", raw.dtype,
              " but is not listed as packed in the metadata \"", kPackedKey, "\"");
    Tensor t = empty(raw.shape);
    TSR_CHECK(static_cast<size_t>(t.numel()) * 4 == raw.bytes.size(), Error, path, ": tensor '", name, "' size");
    std::memcpy(t.raw_data(), raw.bytes.data(), raw.bytes.size());
    state[name] = t;
  }
  auto model = std::make_shared<models::GPT>(config);
  const std::string cfg_path = (fs::path(f.dir) / "config.json").string();
  try {
    quant::attach(*model, packed);
    model->load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    throw Error(detail::concat(path, " does not match the GPT config in ", cfg_path, ": ", e.what()));
  }
  return model;
}

}  // namespace tessera::checkpoint
