// tokenizer_from_gguf_vocab: a GGUF file's tokenizer.ggml.* values -> the
// ByteLevelBPE ("gpt2") or SentencePieceBPE ("llama") they describe.
#include "tessera/text/gguf_vocab.h"

#include "tessera/core/error.h"
#include "tessera/text/bpe.h"
#include "tessera/text/sentencepiece_bpe.h"
#include "text_io.h"
#include "utf8.h"

namespace tessera::text {
namespace {

constexpr int32_t kUnknown = 2, kControl = 3, kUserDefined = 4;

std::unique_ptr<Tokenizer> gpt2_tokenizer(const GgufVocab& v, const std::string& origin) {
  TSR_CHECK(v.pre.empty() || v.pre == "gpt-2", Error, origin, ": tokenizer.ggml.pre '", v.pre,
            "' is not supported (a gpt2 tokenizer here has GPT-2's pre-tokenizer only: 'gpt-2')");
  TSR_CHECK(!v.merges.empty(), Error, origin,
            ": tokenizer.ggml.merges is missing or empty (a gpt2 tokenizer needs its merges)");
  const size_t n = v.tokens.size();
  std::vector<bool> special(n, false);
  if (!v.token_types.empty()) {
    for (size_t id = 0; id < n; ++id) {
      int32_t t = v.token_types[id];
      special[id] = t == kUnknown || t == kControl || t == kUserDefined;
    }
  } else {  // no types: the ids the file names are the specials
    for (const auto& id : {v.bos, v.eos, v.unk, v.pad})
      if (id) special[static_cast<size_t>(*id)] = true;
  }
  std::vector<std::string> vocab(n);
  std::vector<std::pair<std::string, int32_t>> specials;
  std::unordered_map<std::string, int32_t> id_of;  // byte-level spelling -> id, for the merges
  id_of.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (special[i]) {
      TSR_CHECK(!v.tokens[i].empty(), Error, origin, ": special token ", id, " in tokenizer.ggml.tokens is empty");
      specials.emplace_back(v.tokens[i], id);
      continue;
    }
    TSR_CHECK(unicode_to_bytes(v.tokens[i], vocab[i]), Error, origin, ": tokenizer.ggml.tokens[", id, "] '",
              detail::printable(v.tokens[i]), "' is not in GPT-2's byte-level spelling");
    id_of.emplace(v.tokens[i], id);
  }
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(v.merges.size());
  for (size_t r = 0; r < v.merges.size(); ++r)
    merges.push_back(parse_merge(v.merges[r], id_of, origin + ": tokenizer.ggml.merges[" + std::to_string(r) + "]"));
  return std::make_unique<ByteLevelBPE>(std::move(vocab), std::move(merges), std::move(specials), origin);
}

std::unique_ptr<Tokenizer> llama_tokenizer(const GgufVocab& v, const std::string& origin) {
  SentencePieceBPE::Options options;
  options.bos = v.bos;
  options.eos = v.eos;
  options.unk = v.unk;
  options.add_bos = v.add_bos.value_or(true);
  options.add_space_prefix = v.add_space_prefix.value_or(true);
  return std::make_unique<SentencePieceBPE>(v.tokens, v.scores, v.token_types, options, origin);
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_gguf_vocab(const GgufVocab& v) {
  const std::string origin = v.origin.empty() ? std::string("<gguf vocabulary>") : v.origin;
  TSR_CHECK(v.model == "gpt2" || v.model == "llama", Error, origin, ": tokenizer.ggml.model '", v.model,
            "' is not supported (gpt2 or llama)");
  const size_t n = v.tokens.size();
  TSR_CHECK(n > 0, Error, origin, ": tokenizer.ggml.tokens is missing or empty");
  TSR_CHECK(v.scores.empty() || v.scores.size() == n, Error, origin, ": tokenizer.ggml.scores has ", v.scores.size(),
            " entries for ", n, " tokens");
  TSR_CHECK(v.token_types.empty() || v.token_types.size() == n, Error, origin, ": tokenizer.ggml.token_type has ",
            v.token_types.size(), " entries for ", n, " tokens");
  auto check_id = [&](const std::optional<int32_t>& id, const char* key) {
    TSR_CHECK(!id || (*id >= 0 && static_cast<size_t>(*id) < n), Error, origin, ": tokenizer.ggml.", key, " ",
              id.value_or(0), " is outside the vocabulary [0, ", n, ")");
  };
  check_id(v.bos, "bos_token_id");
  check_id(v.eos, "eos_token_id");
  check_id(v.unk, "unknown_token_id");
  check_id(v.pad, "padding_token_id");
  return v.model == "gpt2" ? gpt2_tokenizer(v, origin) : llama_tokenizer(v, origin);
}

}  // namespace tessera::text
