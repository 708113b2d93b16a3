// What a path holds (checkpoint/inspect.h): run folder -> checkpoint folder,
// then config.json -> the kind of weights.
#include "tessera/checkpoint/inspect.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "tessera/checkpoint/folders.h"
#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::checkpoint {

namespace {

// "a/b/" -> "a/b", so that parent_path() is the folder above. (Not
// lexically_normal: the folders reported keep the spelling they were given.)
fs::path without_trailing_slash(const fs::path& p) {
  return p.filename().empty() && p.has_parent_path() ? p.parent_path() : p;
}

// <run>/checkpoints/step-N -> <run>; "" for a folder elsewhere.
std::string run_folder_of(const fs::path& dir) {
  const fs::path n = without_trailing_slash(dir);
  return n.parent_path().filename() == "checkpoints" ? n.parent_path().parent_path().string() : std::string();
}

bool has_config(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "config.json", ec);
}

// The step a training run's summary.json says its test metrics came from,
// when that checkpoint is still there.
std::optional<int64_t> tested_step(const fs::path& run) {
  std::error_code ec;
  fs::path summary = run / "summary.json";
  if (!fs::is_regular_file(summary, ec)) return std::nullopt;
  json s = json::parse(io::read_file(summary.string(), "checkpoint"), nullptr, /*allow_exceptions=*/false);
  if (!s.is_object() || !s.contains("tested_checkpoint_step") || !s["tested_checkpoint_step"].is_number_integer())
    return std::nullopt;
  int64_t step = s["tested_checkpoint_step"];
  if (!has_config(step_dir(run.string(), step))) return std::nullopt;
  return step;
}

// A GGUF file whatever its name: the first four bytes are "GGUF".
bool has_gguf_magic(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

// The checkpoint folder `path` names, and how it named it.
std::pair<std::string, Layout> locate(const std::string& path) {
  std::error_code ec;
  TSR_CHECK(!path.empty() && fs::exists(path, ec), Error, "checkpoint not found: '", path, "'");
  const fs::path p(path);
  if (!fs::is_directory(p, ec)) {
    if (p.extension() == ".gguf" || has_gguf_magic(p)) return {path, Layout::ModelFile};
    throw Error("'" + path + "' is a file, not a checkpoint folder (a folder with config.json, or a run folder) "
                "nor a GGUF model");
  }
  if (has_config(p)) {
    const bool in_run = without_trailing_slash(p).parent_path().filename() == "checkpoints";
    return {path, in_run ? Layout::StepFolder : Layout::CheckpointFolder};
  }
  if (has_config(p / "model")) return {(p / "model").string(), Layout::RunFolder};
  std::optional<int64_t> step = tested_step(p);
  if (!step) step = latest_step(path);
  TSR_CHECK(step.has_value(), Error, "no checkpoint in '", path,
            "': expected config.json there (a checkpoint or Hugging Face folder), model/config.json (a tessera "
            "finetune run) or checkpoints/step-N/ (a tessera train or pretrain run)");
  return {step_dir(path, *step), Layout::RunFolder};
}

Format tessera_format(const json& cfg, const std::string& cfg_path, std::string& task) {
  if (!cfg.contains("task")) {
    TSR_CHECK(cfg.contains("model") && cfg["model"].is_object(), Error, cfg_path,
              " has no \"task\" and no GPT \"model\" section: not a checkpoint this build can read");
    task = "language_model";
    return Format::TesseraGPT;
  }
  TSR_CHECK(cfg["task"].is_string(), Error, cfg_path, ": \"task\" must be a string, got ", cfg["task"].dump());
  task = cfg["task"].get<std::string>();
  if (task == "language_model") return Format::TesseraGPT;
  if (task == "masked_language_model") return Format::TesseraMaskedLM;
  if (task == "sequence_classification") return Format::TesseraClassifier;
  if (task == "classification" || task == "regression") return Format::TesseraTrainModel;
  throw Error(cfg_path + ": task '" + task +
              "' is not one this build reads (language_model, masked_language_model, sequence_classification, "
              "classification, regression)");
}

}  // namespace

Found inspect(const std::string& path) {
  Found f;
  f.path = path;
  std::tie(f.dir, f.layout) = locate(path);
  if (f.layout == Layout::ModelFile) {  // validated when loaded (checkpoint/gguf_model.h)
    f.format = Format::Gguf;
    return f;
  }
  const fs::path dir(f.dir);
  f.run_dir = run_folder_of(dir);
  const std::string cfg_path = (dir / "config.json").string();
  f.config_json = io::read_file(cfg_path, "checkpoint");
  json cfg;
  try {
    cfg = json::parse(f.config_json);
  } catch (const json::exception& e) {
    throw Error(cfg_path + " is not valid JSON: " + e.what());
  }
  TSR_CHECK(cfg.is_object(), Error, cfg_path, ": expected a JSON object");
  if (cfg.contains("format_version")) {
    read_config(f.dir);  // checks the version
    f.format = tessera_format(cfg, cfg_path, f.task);
    if (cfg.contains("step") && cfg["step"].is_number_integer()) f.step = cfg["step"].get<int64_t>();
    return f;
  }
  TSR_CHECK(cfg.contains("model_type"), Error, cfg_path,
            " has neither \"format_version\" (a Tessera checkpoint; one written by hand needs \"format_version\": 1) "
            "nor \"model_type\" (a Hugging Face folder)");
  const json& mt = cfg["model_type"];
  const std::string type = mt.is_string() ? mt.get<std::string>() : mt.dump();
  if (type == "gpt2") {
    f.format = Format::HfGPT2;
  } else if (type == "bert") {
    f.format = Format::HfBert;
  } else {
    throw Error(cfg_path + ": model_type '" + type +
                "' is not supported: this build reads Hugging Face \"gpt2\" and \"bert\" folders");
  }
  return f;
}

std::string describe(Format format) {
  switch (format) {
    case Format::TesseraGPT: return "a Tessera GPT checkpoint (tessera pretrain)";
    case Format::TesseraMaskedLM: return "a Tessera masked-LM checkpoint (tessera pretrain --objective mlm)";
    case Format::TesseraClassifier: return "a fine-tuned text classifier (tessera finetune)";
    case Format::TesseraTrainModel: return "a `tessera train` checkpoint (a model over feature vectors)";
    case Format::HfGPT2: return "a Hugging Face GPT-2 folder";
    case Format::HfBert: return "a Hugging Face BERT folder";
    case Format::Gguf: return "a GGUF model file (llama.cpp)";
  }
  return "?";
}

std::string format_name(Format format) {
  switch (format) {
    case Format::TesseraGPT: return "tessera-gpt";
    case Format::TesseraMaskedLM: return "tessera-mlm";
    case Format::TesseraClassifier: return "tessera-classifier";
    case Format::TesseraTrainModel: return "tessera-train";
    case Format::HfGPT2: return "hf-gpt2";
    case Format::HfBert: return "hf-bert";
    case Format::Gguf: return "gguf";
  }
  return "?";
}

}  // namespace tessera::checkpoint
