// The tokenizer a GGUF file carries (tokenizer.ggml.*), read into
// text::GgufVocab and built by text/gguf_vocab.h.
#include <optional>

#include "tessera/checkpoint/gguf_model.h"
#include "tessera/core/error.h"
#include "tessera/text/gguf_vocab.h"

namespace tessera::checkpoint {

namespace {

// An array value of `key` with the element kind asked for; errors name the file.
const io::GgufValue* array_of(const io::GgufFile& f, const std::string& key, bool strings, bool required) {
  const io::GgufValue* v = f.find(key);
  if (!v) {
    TSR_CHECK(!required, Error, f.path(), ": metadata '", key, "' is missing");
    return nullptr;
  }
  const bool is_string_array = v->type == io::GgufType::Array && v->array_type == io::GgufType::String;
  const bool is_number_array = v->type == io::GgufType::Array && v->array_type != io::GgufType::String;
  TSR_CHECK(strings ? is_string_array : is_number_array, Error, f.path(), ": metadata '", key, "' must be an array of ",
            strings ? "strings" : "numbers");
  return v;
}

std::optional<int32_t> token_id(const io::GgufFile& f, const std::string& key, size_t n_tokens) {
  if (!f.has(key)) return std::nullopt;
  const int64_t id = f.get_int(key);
  TSR_CHECK(id >= 0 && id < int64_t(n_tokens), Error, f.path(), ": ", key, " = ", id, " is not a token id (",
            n_tokens, " tokens)");
  return static_cast<int32_t>(id);
}

}  // namespace

std::unique_ptr<text::Tokenizer> gguf_tokenizer(const io::GgufFile& f) {
  TSR_CHECK(f.has("tokenizer.ggml.model"), Error, f.path(),
            ": the file carries no tokenizer (no tokenizer.ggml.model); pass one with --tokenizer PATH");
  text::GgufVocab v;
  v.origin = f.path();
  v.model = f.get_string("tokenizer.ggml.model");
  if (f.has("tokenizer.ggml.pre")) v.pre = f.get_string("tokenizer.ggml.pre");
  v.tokens = array_of(f, "tokenizer.ggml.tokens", true, true)->strings;
  const size_t n = v.tokens.size();
  if (const io::GgufValue* s = array_of(f, "tokenizer.ggml.scores", false, false)) {
    TSR_CHECK(s->numbers.size() == n, Error, f.path(), ": tokenizer.ggml.scores has ", s->numbers.size(),
              " entries for ", n, " tokens");
    v.scores.assign(s->numbers.begin(), s->numbers.end());
  }
  if (const io::GgufValue* t = array_of(f, "tokenizer.ggml.token_type", false, false)) {
    TSR_CHECK(t->integers.size() == n, Error, f.path(), ": tokenizer.ggml.token_type has ", t->integers.size(),
              " entries for ", n, " tokens");
    v.token_types.assign(t->integers.begin(), t->integers.end());
  }
  if (const io::GgufValue* m = array_of(f, "tokenizer.ggml.merges", true, false)) v.merges = m->strings;
  v.bos = token_id(f, "tokenizer.ggml.bos_token_id", n);
  v.eos = token_id(f, "tokenizer.ggml.eos_token_id", n);
  v.unk = token_id(f, "tokenizer.ggml.unknown_token_id", n);
  v.pad = token_id(f, "tokenizer.ggml.padding_token_id", n);
  // Unset when absent: the tokenizer applies llama.cpp's default for its model.
  auto flag = [&f](const std::string& key) -> std::optional<bool> {
    if (!f.has(key)) return std::nullopt;
    return f.get_bool(key, false);
  };
  v.add_bos = flag("tokenizer.ggml.add_bos_token");
  v.add_eos = flag("tokenizer.ggml.add_eos_token");
  v.add_space_prefix = flag("tokenizer.ggml.add_space_prefix");
  return text::tokenizer_from_gguf_vocab(v);
}

}  // namespace tessera::checkpoint
