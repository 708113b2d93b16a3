// GPT and masked-LM checkpoints with their tokenizers (checkpoint/language_model.h).
#include "tessera/checkpoint/language_model.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "tessera/checkpoint/gguf_model.h"
#include "tessera/checkpoint/quantized.h"
#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/hf_gpt2.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::checkpoint {

namespace {

// A model vocabulary may be padded past the tokenizer's (nanoGPT rounds 50257
// up to 50304) but not by more than this: a bigger gap means a wrong pairing.
constexpr int64_t kMaxVocabPadding = 128;

// The tokenizer to load: the one given, else the nearest folder holding one.
// GPT checkpoints may carry GPT-2's encoder.json + vocab.bpe (the folder is
// returned); masked-LM checkpoints carry tokenizer.json (the file is returned).
std::string find_tokenizer(const Found& f, const std::string& given, bool gpt) {
  if (!given.empty()) return given;
  std::vector<fs::path> places{f.dir};  // nearest first
  if (!f.run_dir.empty()) places.push_back(f.run_dir);
  for (const auto& place : places) {
    if (gpt && (fs::exists(place / "tokenizer.json") ||
                (fs::exists(place / "encoder.json") && fs::exists(place / "vocab.bpe"))))
      return place.string();
    if (!gpt && fs::exists(place / "tokenizer.json")) return (place / "tokenizer.json").string();
  }
  throw Error(detail::concat("no tokenizer for checkpoint ", f.dir, ": expected tokenizer.json",
                             gpt ? " (or encoder.json + vocab.bpe)" : "", " there",
                             places.size() > 1 ? " or in the run folder" : "",
                             gpt ? "; pass one explicitly (tessera generate --tokenizer PATH)" : ""));
}

// The "model" object of a Tessera checkpoint's config.json.
std::string model_section(const Found& f, const char* what) {
  json cfg = json::parse(f.config_json);
  const std::string cfg_path = (fs::path(f.dir) / "config.json").string();
  TSR_CHECK(cfg.contains("model") && cfg["model"].is_object(), Error, cfg_path, ": no \"model\" object (a ", what, ")");
  return cfg["model"].dump();
}

fs::path weights_file(const Found& f) {
  fs::path weights = fs::path(f.dir) / "model.safetensors";
  TSR_CHECK(fs::exists(weights), Error, "checkpoint ", f.dir, " has no model.safetensors");
  return weights;
}

std::shared_ptr<models::GPT> load_tessera_gpt(const Found& f) {
  const std::string cfg_path = (fs::path(f.dir) / "config.json").string();
  models::GPTConfig config;
  try {
    config = models::GPTConfig::from_json(model_section(f, "GPTConfig"));
  } catch (const Error& e) {
    throw Error(detail::concat(cfg_path, ": \"model\": ", e.what()));
  }
  if (!weight_format_of(f).empty()) return load_quantized_gpt(f, config);
  fs::path weights = weights_file(f);
  auto model = std::make_shared<models::GPT>(config);
  auto contents = io::load_safetensors(weights.string());
  // With tied embeddings the state_dict lists the shared tensor once; a file
  // written by a tool that also stored lm_head.weight still loads.
  auto state = model->state_dict();
  if (!state.count("lm_head.weight")) contents.tensors.erase("lm_head.weight");
  try {
    model->load_state_dict(contents.tensors, /*strict=*/true);
  } catch (const Error& e) {
    throw Error(detail::concat(weights.string(), " does not match the GPT config in ", cfg_path, ": ", e.what()));
  }
  return model;
}

}  // namespace

LoadedGPT load_gpt(const Found& f, const std::string& tokenizer_path) {
  LoadedGPT out;
  out.checkpoint_dir = f.dir;
  if (f.format == Format::TesseraGPT) {
    out.format = "tessera";
    out.step = f.step;
    out.model = load_tessera_gpt(f);
  } else if (f.format == Format::HfGPT2) {
    out.format = "hf-gpt2";
    out.model = models::load_hf_gpt2(f.dir);
  } else if (f.format == Format::Gguf) {
    out.format = "gguf";
    const io::GgufFile file = io::GgufFile::open(f.dir);
    out.model = load_gguf_model(file).model;
    if (tokenizer_path.empty()) {  // the vocabulary the file carries
      out.tokenizer_path = f.dir;
      out.tokenizer = gguf_tokenizer(file);
    }
  } else {
    throw Error(detail::concat(f.dir, " is ", describe(f.format),
                               ", not a GPT: expected a Tessera language model (tessera pretrain), a Hugging Face "
                               "GPT-2 folder or a GGUF model"));
  }
  if (!out.tokenizer) {
    out.tokenizer_path = find_tokenizer(f, tokenizer_path, /*gpt=*/true);
    out.tokenizer = text::load_tokenizer(out.tokenizer_path);
  }
  int64_t tv = out.tokenizer->vocab_size(), mv = out.model->config().vocab_size;
  TSR_CHECK(tv <= mv && mv - tv < kMaxVocabPadding, Error, "tokenizer ", out.tokenizer_path, " has ", tv,
            " ids but the model in ", f.dir, " has vocab_size ", mv,
            tv > mv ? " (the tokenizer would produce ids the model has no row for)"
                    : " (a model's vocabulary may only pad the tokenizer's by fewer than 128 ids)");
  return out;
}

LoadedGPT load_gpt(const std::string& path, const std::string& tokenizer_path) {
  return load_gpt(inspect(path), tokenizer_path);
}

LoadedMaskedLM load_masked_lm(const Found& f, const std::string& tokenizer_path, uint64_t seed) {
  TSR_CHECK(f.format == Format::TesseraMaskedLM, Error, f.dir, " is ", describe(f.format),
            ", not a masked-LM checkpoint (tessera pretrain --objective mlm)");
  const std::string cfg_path = (fs::path(f.dir) / "config.json").string();
  models::BertConfig bc = models::BertConfig::from_json(model_section(f, "BertConfig"), cfg_path);
  LoadedMaskedLM out;
  out.checkpoint_dir = f.dir;
  out.step = f.step;
  out.model = std::make_shared<models::BertForMaskedLM>(bc, seed);
  fs::path weights = weights_file(f);
  try {
    out.model->load_state_dict(io::load_safetensors(weights.string()).tensors, /*strict=*/true);
  } catch (const Error& e) {
    throw Error(weights.string() + " does not match the BERT config in " + cfg_path + ": " + e.what());
  }
  out.tokenizer_path = find_tokenizer(f, tokenizer_path, /*gpt=*/false);
  out.tokenizer = text::load_tokenizer(out.tokenizer_path);
  TSR_CHECK(out.tokenizer->vocab_size() <= bc.vocab_size, Error, "tokenizer ", out.tokenizer_path, " has ",
            out.tokenizer->vocab_size(), " ids but the model in ", f.dir, " has vocab_size ", bc.vocab_size);
  return out;
}

}  // namespace tessera::checkpoint
