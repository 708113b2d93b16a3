// CharTokenizer: one token per character. The vocabulary is the sorted set of
// symbols of a corpus: a symbol is one UTF-8 encoded code point, or one byte
// that does not start a well-formed UTF-8 sequence (so any corpus, even
// binary, has a vocabulary and decodes back to its exact bytes). Symbols get
// ids 0..n-1 in byte order (= code point order), special tokens n, n+1, ...
//
// Encoding a character that is not in the vocabulary throws tessera::Error
// naming the character (U+XXXX or the byte) and its byte offset: there is no
// <unk> fallback, silently mapping text to something else would hide data bugs.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/text/tokenizer.h"

namespace tessera::text {

class CharTokenizer : public Tokenizer {
 public:
  // vocab[id] = one symbol's bytes, for every id that is not special; specials
  // (text, id) fill the remaining ids. Throws tessera::Error when an entry is
  // not a single symbol, repeats, or an id is left empty.
  CharTokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, int32_t>> specials,
                std::string source = "<memory>");
  // The symbols of `texts` (special tokens inside them are not split into
  // characters), then `specials` in the order given.
  static CharTokenizer from_corpus(const std::vector<std::string_view>& texts,
                                   const std::vector<std::string>& specials = {});

  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string token_bytes(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::optional<int32_t> eot_id() const override { return special_id("<|endoftext|>"); }
  std::optional<int32_t> special_id(std::string_view text) const override;
  std::string kind() const override { return "char"; }
  void save(const std::string& path) const override;

  const std::vector<std::pair<std::string, int32_t>>& specials() const { return specials_; }

 private:
  void encode_ordinary(std::string_view text, size_t base_offset, std::vector<int32_t>& out) const;

  std::vector<std::string> vocab_;
  std::vector<std::pair<std::string, int32_t>> specials_;
  std::unordered_map<std::string, int32_t> id_of_;
  std::array<int32_t, 128> ascii_{};  // fast path, -1 when absent
};

}  // namespace tessera::text
