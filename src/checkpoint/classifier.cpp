// Fine-tuned classifiers (checkpoint/classifier.h): the architecture from
// config.json, the base for frozen / LoRA modes, then exactly the tensors the
// mode stores.
#include "tessera/checkpoint/classifier.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/checkpoint/backbone.h"
#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"
#include "tessera/nn/lora.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::checkpoint {

namespace {

LoadedClassifier load(const Found& f, const std::string& base_override) {
  LoadedClassifier out;
  const std::string& dir = f.dir;
  out.dir = dir;
  out.config_json = f.config_json;
  TSR_CHECK(f.format == Format::TesseraClassifier, Error, dir, " is not a classifier checkpoint (task '", f.task,
            "'): tessera eval reads classifiers from `tessera finetune`");
  json cfg = json::parse(out.config_json);
  const json& bj = cfg.at("backbone");
  const std::string kind = bj.at("kind").get<std::string>(), mode = cfg.at("mode").get<std::string>();
  Backbone bb;
  if (mode == "full") {
    // The whole model is in the file: rebuild the architecture, fill it in.
    bb.kind = kind;
    bb.pooler = bj.value("pooler", false);
    if (kind == "gpt") {
      bb.gpt = std::make_shared<models::GPT>(models::GPTConfig::from_json(bj.at("config").dump()), 0);
    } else {
      bb.bert = std::make_shared<models::BertModel>(models::BertConfig::from_json(bj.at("config").dump()), 0, bb.pooler);
    }
  } else {
    std::string base = base_override.empty() ? (bj.at("base").is_string() ? bj.at("base").get<std::string>() : "")
                                             : base_override;
    TSR_CHECK(!base.empty(), Error, dir, ": a ", mode, " checkpoint needs its base model; none is recorded (use --base)");
    bb = load_backbone(base, "", false, 0);
    const std::string want = bj.value("fingerprint", std::string());
    TSR_CHECK(bb.fingerprint == want, Error, dir, " holds ", mode == "lora" ? "LoRA adapters" : "a head",
              " trained on another base model: it expects weights with fingerprint ", want, " but ", base,
              " has fingerprint ", bb.fingerprint, " (pass the right one with --base)");
    TSR_CHECK(bb.kind == kind, Error, dir, " was trained on a ", kind, " backbone, but ", base, " is a ", bb.kind);
  }
  out.tokenizer = text::load_tokenizer((fs::path(dir) / "tokenizer.json").string());
  if (kind == "bert") {
    int64_t v = bb.bert->config().vocab_size;
    TSR_CHECK(out.tokenizer->vocab_size() == v, Error, "the vocab does not match the checkpoint: ", dir,
              "/tokenizer.json has ", out.tokenizer->vocab_size(), " tokens, the model ", v);
  }
  out.labels = cfg.at("labels").get<std::vector<std::string>>();
  out.max_len = cfg.at("max_len").get<int64_t>();
  const json& head = cfg.at("head");
  models::ClassifierOptions co;
  co.pooling = head.at("pooling").get<std::string>();
  co.dropout = head.at("dropout").get<double>();
  co.num_labels = static_cast<int64_t>(out.labels.size());
  out.model = kind == "gpt" ? std::make_shared<models::SequenceClassifier>(bb.gpt, co, 0)
                            : std::make_shared<models::SequenceClassifier>(bb.bert, co, 0);
  if (mode == "lora") {
    const json& lj = cfg.at("lora");
    nn::LoraOptions lo;
    lo.rank = lj.at("rank").get<int64_t>();
    lo.alpha = lj.at("alpha").get<double>();
    lo.dropout = lj.at("dropout").get<double>();
    lo.targets = lj.at("targets").get<std::vector<std::string>>();
    auto layers = nn::apply_lora(*out.model, lo, 0);
    TSR_CHECK(layers == lj.at("layers").get<std::vector<std::string>>(), Error, dir,
              ": the LoRA targets match other layers in this base model than in training: another base model?");
  }
  auto weights = io::load_safetensors((fs::path(dir) / "classifier.safetensors").string());
  // The file must supply exactly what its mode saves; anything else means a
  // file for another model.
  nn::StateDict want;
  for (const auto& [name, t] : out.model->state_dict())
    if (stored_in_checkpoint(name, mode)) want[name] = t;
  std::string problems;
  for (const auto& [name, t] : want)
    if (!weights.tensors.count(name)) problems += "\n  missing " + name;
  for (const auto& [name, t] : weights.tensors)
    if (!want.count(name)) problems += "\n  unexpected " + name;
  TSR_CHECK(problems.empty(), Error, dir, "/classifier.safetensors does not fit this ", kind, " classifier (", mode,
            "):", problems);
  out.model->load_state_dict(weights.tensors, /*strict=*/false);
  out.model->eval();
  const json& dj = cfg.at("data");
  out.format = dj.value("format", std::string("auto"));
  out.text_column = dj.value("text_column", std::string("text"));
  out.label_column = dj.value("label_column", std::string("label"));
  return out;
}

}  // namespace

LoadedClassifier load_classifier(const Found& f, const std::string& base_override) {
  try {
    return load(f, base_override);
  } catch (const json::exception& e) {
    throw Error(f.dir + "/config.json is missing a field or has one of the wrong type: " + e.what());
  }
}

LoadedClassifier load_classifier(const std::string& path, const std::string& base_override) {
  return load_classifier(inspect(path), base_override);
}

}  // namespace tessera::checkpoint
