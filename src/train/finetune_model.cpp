// Backbones and classifier checkpoints for fine-tuning (train/finetune.h):
// what a base folder holds, how a classifier is saved by mode, and how it is
// rebuilt (a frozen or LoRA checkpoint over the exact base it was trained on).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "finetune_internal.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/generate.h"
#include "tessera/ops/activation.h"
#include "tessera/text/shards.h"
#include "tessera/text/wordpiece.h"
#include "tessera/checkpoint/folders.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace detail {
namespace {

json read_json_file(const fs::path& p) {
  try {
    return json::parse(io::read_file(p.string(), "finetune"));
  } catch (const json::exception& e) {
    throw Error(p.string() + ": not valid JSON: " + e.what());
  }
}

// A BERT checkpoint's tokenizer must be WordPiece with exactly its vocabulary.
void check_bert_tokenizer(const text::Tokenizer& tok, int64_t vocab, const std::string& tok_origin,
                          const std::string& model_origin) {
  TSR_CHECK(tok.kind() == "wordpiece", Error, "tokenizer ", tok_origin, " is a ", tok.kind(),
            " tokenizer, but ", model_origin, " is a BERT model: it needs its WordPiece vocab (vocab.txt)");
  TSR_CHECK(tok.vocab_size() == vocab, Error, "the vocab does not match the checkpoint: tokenizer ", tok_origin, " has ",
            tok.vocab_size(), " tokens, ", model_origin, " has vocab_size ", vocab);
}

std::shared_ptr<text::Tokenizer> load_tok(const std::string& path) { return text::load_tokenizer(path); }

void wrong_kind(const std::string& dir, const std::string& task) {
  if (task == "sequence_classification")
    throw Error(dir + " is already a fine-tuned classifier, not a base model: fine-tune from its base, or evaluate it "
                "with `tessera eval --checkpoint " + dir + " --data FILE`");
  if (task == "classification" || task == "regression")
    throw Error(dir + " is a `tessera train` " + task + " checkpoint (a model over feature vectors), not a language "
                "model: a text classification head needs a GPT or BERT backbone");
  throw Error(dir + ": checkpoint task '" + task + "' cannot be a fine-tuning backbone (expected language_model or "
              "masked_language_model)");
}

}  // namespace

std::string resolve_checkpoint_dir(const std::string& path) {
  TSR_CHECK(fs::exists(path), Error, "checkpoint folder ", path, " does not exist");
  if (fs::exists(fs::path(path) / "config.json")) return path;
  if (fs::exists(fs::path(path) / "model" / "config.json")) return (fs::path(path) / "model").string();
  if (auto s = checkpoint::latest_step(path)) return checkpoint::step_dir(path, *s);
  throw Error(path + " holds no config.json, model/config.json or checkpoints/step-N: not a checkpoint folder");
}

std::string fingerprint_weights(const nn::Module& m) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  for (const auto& [name, t] : m.state_dict()) {  // std::map: name order
    mix(name.data(), name.size());
    Tensor c = t.contiguous();
    mix(c.data<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
  }
  return text::fingerprint_hex(h);
}

Backbone load_backbone(const std::string& base, const std::string& tokenizer_override, bool from_scratch,
                       uint64_t seed) {
  Backbone b;
  std::string dir = resolve_checkpoint_dir(base);
  json cfg = read_json_file(fs::path(dir) / "config.json");
  b.base = fs::absolute(dir).lexically_normal().string();
  if (cfg.contains("task")) {  // a Tessera checkpoint
    std::string task = cfg["task"].is_string() ? cfg["task"].get<std::string>() : "";
    if (task == "language_model") {
      lm::LoadedGPT g = lm::load_gpt_checkpoint(dir, tokenizer_override);
      b.kind = "gpt", b.base_format = "tessera-gpt", b.gpt = g.model;
      b.tokenizer = std::shared_ptr<text::Tokenizer>(std::move(g.tokenizer));
      b.arch = json::parse(g.model->config().to_json());
    } else if (task == "masked_language_model") {
      TSR_CHECK(cfg.contains("model") && cfg["model"].is_object(), Error, dir, "/config.json has no \"model\" section");
      auto bc = models::BertConfig::from_json(cfg["model"].dump(), dir + "/config.json");
      models::BertForMaskedLM mlm(bc, seed);
      auto weights = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
      mlm.load_state_dict(weights.tensors, /*strict=*/true);
      b.kind = "bert", b.base_format = "tessera-mlm", b.bert = mlm.bert, b.pooler = b.bert->has_pooler();
      std::string tp = tokenizer_override.empty() ? (fs::path(dir) / "tokenizer.json").string() : tokenizer_override;
      b.tokenizer = load_tok(tp);
      check_bert_tokenizer(*b.tokenizer, bc.vocab_size, tp, dir);
      b.arch = json::parse(bc.to_json());
    } else {
      wrong_kind(dir, task);
    }
  } else {
    std::string type = cfg.value("model_type", std::string());
    if (type == "bert") {
      b.kind = "bert", b.base_format = "hf-bert", b.bert = models::load_hf_bert(dir), b.pooler = b.bert->has_pooler();
      std::string tp = tokenizer_override.empty() ? dir : tokenizer_override;
      if (tokenizer_override.empty()) {
        b.tokenizer = std::shared_ptr<text::Tokenizer>(text::WordPieceTokenizer::from_folder(dir));
      } else {
        b.tokenizer = load_tok(tp);
      }
      check_bert_tokenizer(*b.tokenizer, b.bert->config().vocab_size, tp, dir);
      b.arch = json::parse(b.bert->config().to_json());
    } else if (type == "gpt2") {
      lm::LoadedGPT g = lm::load_gpt_checkpoint(dir, tokenizer_override);
      b.kind = "gpt", b.base_format = "hf-gpt2", b.gpt = g.model;
      b.tokenizer = std::shared_ptr<text::Tokenizer>(std::move(g.tokenizer));
      b.arch = json::parse(g.model->config().to_json());
    } else {
      throw Error(dir + "/config.json: model_type '" + type +
                  "' is not a supported backbone (Hugging Face \"bert\" or \"gpt2\", or a Tessera checkpoint)");
    }
  }
  if (from_scratch) {
    // Same architecture and tokenizer, fresh weights: the baseline a
    // pretrained start is compared with.
    if (b.kind == "gpt") {
      b.gpt = std::make_shared<models::GPT>(models::GPTConfig::from_json(b.arch.dump()), seed);
    } else {
      b.bert = std::make_shared<models::BertModel>(models::BertConfig::from_json(b.arch.dump()), seed, b.pooler);
    }
    b.base.clear();
    b.base_format = "scratch";
  }
  nn::Module& m = b.kind == "gpt" ? static_cast<nn::Module&>(*b.gpt) : static_cast<nn::Module&>(*b.bert);
  b.fingerprint = fingerprint_weights(m);
  return b;
}

int64_t save_classifier(const std::string& dir, const models::SequenceClassifier& model, const ClassifierMeta& meta) {
  const Backbone& bb = *meta.backbone;
  json lora = nullptr;
  if (meta.mode == "lora")
    lora = {{"rank", meta.lora.rank}, {"alpha", meta.lora.alpha}, {"dropout", meta.lora.dropout},
            {"targets", meta.lora.targets}, {"layers", meta.lora_layers}};
  json cfg = {{"format_version", 1},
              {"task", "sequence_classification"},
              {"backbone",
               {{"kind", bb.kind},
                {"config", bb.arch},
                {"pooler", bb.pooler},
                {"base", bb.base.empty() ? json(nullptr) : json(bb.base)},
                {"base_format", bb.base_format},
                {"fingerprint", bb.fingerprint},
                {"from_scratch", bb.base_format == "scratch"}}},
              {"head", {{"pooling", meta.pooling}, {"dropout", meta.head_dropout}}},
              {"labels", meta.labels},
              {"max_len", meta.max_len},
              {"mode", meta.mode},
              {"lora", lora},
              {"data", {{"format", meta.format}, {"text_column", meta.text_column}, {"label_column", meta.label_column}}},
              {"recipe", meta.recipe},
              {"tokenizer", "tokenizer.json"}};
  io::TensorMap weights;
  for (const auto& [name, t] : model.state_dict())
    if (stored_in_checkpoint(name, meta.mode)) weights[name] = t.contiguous();
  fs::path final_dir(dir), tmp = final_dir.string() + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  TSR_CHECK(!ec, Error, "finetune: cannot create ", tmp.string(), ": ", ec.message());
  io::save_safetensors((tmp / "classifier.safetensors").string(), weights, {{"format", "pt"}});
  bb.tokenizer->save((tmp / "tokenizer.json").string());
  io::write_file_atomic((tmp / "config.json").string(), cfg.dump(2) + "\n");
  if (fs::exists(final_dir)) {
    fs::path old = final_dir.string() + ".old";
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    TSR_CHECK(!ec, Error, "finetune: cannot replace ", final_dir.string(), ": ", ec.message());
    fs::rename(tmp, final_dir, ec);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, final_dir, ec);
  }
  TSR_CHECK(!ec, Error, "finetune: cannot move ", tmp.string(), " to ", final_dir.string(), ": ", ec.message());
  int64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(final_dir)) bytes += static_cast<int64_t>(e.file_size());
  return bytes;
}

}  // namespace detail

std::string checkpoint_task(const std::string& path) {
  std::string dir;
  try {
    dir = detail::resolve_checkpoint_dir(path);
  } catch (const Error&) {
    return "";
  }
  json cfg;
  try {
    cfg = json::parse(io::read_file((fs::path(dir) / "config.json").string(), "eval"));
  } catch (const std::exception&) {
    return "";
  }
  if (cfg.contains("task") && cfg["task"].is_string()) return cfg["task"].get<std::string>();
  if (cfg.value("model_type", std::string()) == "gpt2") return "language_model";
  return "";
}

std::vector<int32_t> encode_example(const text::Tokenizer& tok, const std::string& kind, const std::string& text,
                                    int64_t max_len) {
  std::vector<int32_t> ids;
  if (kind == "bert") {
    const auto* wp = dynamic_cast<const text::WordPieceTokenizer*>(&tok);
    TSR_CHECK(wp, Error, "a BERT classifier needs a WordPiece tokenizer, got a ", tok.kind(), " tokenizer");
    ids = wp->encode_for_model(text, max_len);
    TSR_CHECK(ids.size() > 2, Error, "the text tokenizes to nothing (only [CLS] [SEP])");
  } else {
    ids = tok.encode(text, /*allow_special=*/false);
    TSR_CHECK(!ids.empty(), Error, "the text tokenizes to nothing");
    if (static_cast<int64_t>(ids.size()) > max_len) ids.resize(static_cast<size_t>(max_len));
  }
  return ids;
}

LoadedClassifier load_classifier(const std::string& path, const std::string& base_override) {
  LoadedClassifier out;
  std::string dir = detail::resolve_checkpoint_dir(path);
  out.dir = dir;
  out.config_json = io::read_file((fs::path(dir) / "config.json").string(), "eval");
  json cfg = json::parse(out.config_json);
  std::string task = cfg.value("task", std::string());
  TSR_CHECK(task == "sequence_classification", Error, dir, " is not a classifier checkpoint (task '", task,
            "'): tessera eval reads classifiers from `tessera finetune`");
  const json& bj = cfg.at("backbone");
  const std::string kind = bj.at("kind").get<std::string>(), mode = cfg.at("mode").get<std::string>();
  detail::Backbone bb;
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
    bb = detail::load_backbone(base, "", false, 0);
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
    if (detail::stored_in_checkpoint(name, mode)) want[name] = t;
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

std::vector<std::vector<float>> predict_probabilities(LoadedClassifier& c, const std::vector<std::string>& texts,
                                                      int64_t batch_size) {
  const std::string kind = c.model->backbone_kind();
  std::vector<std::vector<int32_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ids[i] = encode_example(*c.tokenizer, kind, texts[i], c.max_len);
  std::vector<size_t> order(texts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  const int32_t pad = kind == "bert" ? dynamic_cast<const text::WordPieceTokenizer&>(*c.tokenizer).pad_id() : 0;
  std::vector<std::vector<float>> probs(texts.size());
  c.model->eval();
  NoGradGuard no_grad;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
    size_t e = std::min(order.size(), s + static_cast<size_t>(batch_size));
    std::vector<std::vector<int32_t>> batch;
    for (size_t k = s; k < e; ++k) batch.push_back(ids[order[k]]);
    auto [x, lengths] = models::pad_batch(batch, pad);
    Tensor p = softmax(c.model->forward(x, lengths), -1).contiguous();
    const int64_t L = p.size(1);
    const float* pp = p.data<float>();
    for (size_t k = s; k < e; ++k) {
      const float* row = pp + static_cast<int64_t>(k - s) * L;
      probs[order[k]].assign(row, row + L);
    }
  }
  return probs;
}

}  // namespace tessera::train
