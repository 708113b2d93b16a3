// Fine-tuning bases (checkpoint/backbone.h): which loader a base folder needs,
// and the fingerprint that ties a classifier to its base.
#include "tessera/checkpoint/backbone.h"

#include "tessera/checkpoint/quantized.h"

#include <filesystem>

#include "tessera/checkpoint/inspect.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/checkpoint/quantized.h"
#include "tessera/core/error.h"
#include "tessera/text/shards.h"
#include "tessera/text/wordpiece.h"

namespace fs = std::filesystem;

namespace tessera::checkpoint {

namespace {

// A BERT checkpoint's tokenizer must be WordPiece with exactly its vocabulary.
void check_bert_tokenizer(const text::Tokenizer& tok, int64_t vocab, const std::string& tok_origin,
                          const std::string& model_origin) {
  TSR_CHECK(tok.kind() == "wordpiece", Error, "tokenizer ", tok_origin, " is a ", tok.kind(),
            " tokenizer, but ", model_origin, " is a BERT model: it needs its WordPiece vocab (vocab.txt)");
  TSR_CHECK(tok.vocab_size() == vocab, Error, "the vocab does not match the checkpoint: tokenizer ", tok_origin, " has ",
            tok.vocab_size(), " tokens, ", model_origin, " has vocab_size ", vocab);
}

[[noreturn]] void wrong_kind(const std::string& dir, const std::string& task) {
  if (task == "sequence_classification")
    throw Error(dir + " is already a fine-tuned classifier, not a base model: fine-tune from its base, or evaluate it "
                "with `tessera eval --checkpoint " + dir + " --data FILE`");
  throw Error(dir + " is a `tessera train` " + task + " checkpoint (a model over feature vectors), not a language "
              "model: a text classification head needs a GPT or BERT backbone");
}

void use_gpt(Backbone& b, LoadedGPT g) {
  b.kind = "gpt", b.gpt = g.model;
  b.tokenizer = std::shared_ptr<text::Tokenizer>(std::move(g.tokenizer));
  b.arch_json = g.model->config().to_json();
}

}  // namespace

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
  const Found f = inspect(base);
  const std::string& dir = f.dir;
  b.base = fs::absolute(dir).lexically_normal().string();
  switch (f.format) {
    case Format::TesseraGPT:
      TSR_CHECK(weight_format_of(f).empty() || weight_format_of(f) == "f32", Error, "finetune base ", dir, " holds ",
                weight_format_of(f), " weights: a quantized model is for inference only; dequantize it first "
                "(tessera quantize --checkpoint ", dir, " --out DIR --dtype f32)");
      use_gpt(b, load_gpt(f, tokenizer_override));
      b.base_format = "tessera-gpt";
      break;
    case Format::HfGPT2:
      use_gpt(b, load_gpt(f, tokenizer_override));
      b.base_format = "hf-gpt2";
      break;
    case Format::TesseraMaskedLM: {
      LoadedMaskedLM mlm = load_masked_lm(f, tokenizer_override, seed);
      b.kind = "bert", b.base_format = "tessera-mlm", b.bert = mlm.model->bert, b.pooler = b.bert->has_pooler();
      b.tokenizer = std::shared_ptr<text::Tokenizer>(std::move(mlm.tokenizer));
      check_bert_tokenizer(*b.tokenizer, b.bert->config().vocab_size, mlm.tokenizer_path, dir);
      b.arch_json = b.bert->config().to_json();
      break;
    }
    case Format::HfBert: {
      b.kind = "bert", b.base_format = "hf-bert", b.bert = models::load_hf_bert(dir), b.pooler = b.bert->has_pooler();
      std::string tp = tokenizer_override.empty() ? dir : tokenizer_override;
      if (tokenizer_override.empty()) {
        b.tokenizer = std::shared_ptr<text::Tokenizer>(text::WordPieceTokenizer::from_folder(dir));
      } else {
        b.tokenizer = text::load_tokenizer(tp);
      }
      check_bert_tokenizer(*b.tokenizer, b.bert->config().vocab_size, tp, dir);
      b.arch_json = b.bert->config().to_json();
      break;
    }
    case Format::TesseraClassifier:
    case Format::TesseraTrainModel:
      wrong_kind(dir, f.task);
    case Format::Gguf:
      throw Error(dir + " is a GGUF model file, loaded for inference only (its weights may be quantized): fine-tune "
                  "from a Tessera or Hugging Face checkpoint");
  }
  if (from_scratch) {
    // Same architecture and tokenizer, fresh weights: the baseline a
    // pretrained start is compared with.
    if (b.kind == "gpt") {
      b.gpt = std::make_shared<models::GPT>(models::GPTConfig::from_json(b.arch_json), seed);
    } else {
      b.bert = std::make_shared<models::BertModel>(models::BertConfig::from_json(b.arch_json), seed, b.pooler);
    }
    b.base.clear();
    b.base_format = "scratch";
  }
  nn::Module& m = b.kind == "gpt" ? static_cast<nn::Module&>(*b.gpt) : static_cast<nn::Module&>(*b.bert);
  b.fingerprint = fingerprint_weights(m);
  return b;
}

}  // namespace tessera::checkpoint
