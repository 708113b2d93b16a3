// BERT's text normalization and word splitting: Hugging Face `tokenizers`'
// BertNormalizer + BertPreTokenizer (the slow BertTokenizer's BasicTokenizer),
// steps 2-6 of tessera/text/wordpiece.h: clean the text, make CJK ideographs
// words of their own, lowercase, strip accents, split at whitespace and at
// every punctuation character. What comes out are the words that WordPiece
// then cuts into vocabulary pieces. Internal header (src/text).
#pragma once
#include <functional>
#include <string_view>

namespace tessera::text::detail {

class BertNormalizer {
 public:
  // As BertNormalizer's lowercase / strip_accents / handle_chinese_chars.
  BertNormalizer(bool lowercase, bool strip_accents, bool split_cjk)
      : lowercase_(lowercase), strip_accents_(strip_accents), split_cjk_(split_cjk) {}

  // Calls on_word once per word of `text`, in order, with the word's
  // normalized UTF-8 (never empty; valid only during the call). Invalid UTF-8
  // bytes read as U+FFFD, which cleaning drops.
  void split_words(std::string_view text, const std::function<void(std::string_view word)>& on_word) const;

 private:
  bool lowercase_, strip_accents_, split_cjk_;
};

}  // namespace tessera::text::detail
