// The fine-tuned classifier's side of train/finetune.h: how it is saved by mode
// (the writer of model/ and merged/; checkpoint/classifier.h reads them back),
// how a text becomes its input ids, and batched class probabilities.
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "finetune_internal.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/ops/activation.h"
#include "tessera/text/wordpiece.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace detail {

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
                {"config", json::parse(bb.arch_json)},
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

std::vector<std::vector<float>> predict_probabilities(checkpoint::LoadedClassifier& c, const std::vector<std::string>& texts,
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
