// BERT's WordPiece tokenizer, id for id as Hugging Face's BertTokenizerFast
// (and, on the cases where the two agree, the slow BertTokenizer): loads
// vocab.txt (+ tokenizer_config.json) or a BertTokenizerFast tokenizer.json.
//
// encode(), in order (BertNormalizer, BertPreTokenizer, WordPiece model):
//  1. allow_special: the literal special-token strings ([CLS] [SEP] [MASK]
//     [PAD] [UNK], case-sensitive, anywhere, even inside a word) become their
//     ids; the text between them goes through the steps below.
//  2. clean: NUL, U+FFFD and control characters (Unicode category C*, except
//     \t \n \r) are dropped; \t \n \r and Zs become a space. Invalid UTF-8:
//     each byte that does not start a well-formed sequence is read as U+FFFD
//     (Python's errors="replace", one per byte) and so dropped here.
//  3. CJK ideographs (BERT's block list) become words of their own.
//  4. lowercase: each code point's full lowercase mapping on its own
//     (U+0130 -> "i" U+0307, final sigma not special-cased: what the slow
//     tokenizer's per-character lower() and Rust's char::to_lowercase do).
//  5. strip accents (on when lowercase unless strip_accents says otherwise):
//     NFD, then nonspacing marks (Mn) dropped.
//  6. split at whitespace, then every punctuation character (ASCII
//     non-alphanumeric printable, or a Unicode P* category) is a word.
//  7. each word: greedy longest-match-first pieces, later ones prefixed "##";
//     a word with more than max_input_chars_per_word code points, or one that
//     cannot be covered, is a single [UNK].
// Where the slow BertTokenizer differs from the fast one (it also NFC-composes
// the text; see tests/text/gen_wordpiece_golden.py for the list of cases), we
// follow the fast one, which is also what our saved tokenizer.json runs in
// Hugging Face `tokenizers`.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/text/tokenizer.h"

namespace tessera::text {

struct WordPieceOptions {
  bool lowercase = true;              // do_lower_case
  std::optional<bool> strip_accents;  // unset: follows lowercase (as BertTokenizer)
  bool tokenize_chinese_chars = true;
  int max_input_chars_per_word = 100;
  std::string unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]",
              mask_token = "[MASK]";
};

class WordPieceTokenizer : public Tokenizer {
 public:
  // vocab[id] = the token's text (continuations spelled "##xyz"). Throws
  // tessera::Error naming `origin` when the vocabulary is empty, repeats an
  // entry, or lacks the unk/cls/sep tokens.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {}, std::string origin = "");
  // BERT's vocab.txt: one token per line, id = line number (a trailing \r is dropped).
  static std::unique_ptr<WordPieceTokenizer> from_vocab_file(const std::string& vocab_txt,
                                                            WordPieceOptions options = {});
  // A folder with vocab.txt (+ optional tokenizer_config.json: do_lower_case,
  // strip_accents, tokenize_chinese_chars, special token strings) or a
  // tokenizer.json whose model.type is "WordPiece" (HF BertTokenizerFast file:
  // vocab from model.vocab, lowercase/strip_accents/handle_chinese_chars from
  // its BertNormalizer). `folder` may also be such a tokenizer.json itself.
  static std::unique_ptr<WordPieceTokenizer> from_folder(const std::string& folder);
  // Reads a tokenizer.json with model.type "WordPiece" (errors name the file and field).
  static std::unique_ptr<WordPieceTokenizer> from_tokenizer_json(const std::string& path);

  // Word pieces WITHOUT [CLS]/[SEP] (see the steps above).
  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const override;
  // [CLS] pieces [SEP], truncated to max_len ids in total (pieces cut, [SEP]
  // kept), as tokenizer(text, truncation=True, max_length=max_len). max_len >= 2.
  std::vector<int32_t> encode_for_model(std::string_view text, int64_t max_len) const;
  // As HF BertTokenizerFast.decode(ids) (skip_special_tokens=False,
  // clean_up_tokenization_spaces=True; the WordPiece decoder): tokens joined
  // by spaces, a "##" piece glued to the one before (its "##" dropped; kept
  // on the first token), then per token " ." " ?" " !" " ," lose their space
  // (and the other cleanup rules of `tokenizers`, applied to each token with
  // its leading space, not to the whole text: "don ' t" stays).
  std::string decode(const std::vector<int32_t>& ids) const override;
  // The vocabulary entry as spelled ("##ing" for a continuation).
  std::string token_bytes(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::optional<int32_t> eot_id() const override { return std::nullopt; }
  // Ids of the special strings of the options that are in the vocabulary.
  std::optional<int32_t> special_id(std::string_view text) const override;
  std::string kind() const override { return "wordpiece"; }
  // HF tokenizer.json (model.type "WordPiece", BertNormalizer,
  // BertPreTokenizer, TemplateProcessing [CLS] $A [SEP] / [CLS] $A [SEP] $B:1
  // [SEP]:1, WordPiece decoder), atomically, with model.tessera {kind
  // "wordpiece"}; `tokenizers.Tokenizer.from_file` gives the same ids.
  void save(const std::string& path) const override;

  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const;   // throws when the vocabulary has no pad token
  int32_t mask_id() const;  // throws when the vocabulary has no mask token
  int32_t unk_id() const { return unk_id_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Appends the pieces of one pre-tokenized word (normalized UTF-8).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;

  std::vector<std::string> vocab_;
  WordPieceOptions options_;
  std::string origin_;
  bool strip_accents_ = true;
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> id_of_;           // whole-word pieces
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> cont_id_of_;      // "##x" stored as "x"
  std::vector<std::pair<std::string, int32_t>> specials_;  // the option strings present in the vocabulary
  size_t max_piece_bytes_ = 0;  // the longest entry: no longer piece can match
  int32_t unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, mask_id_ = -1;
};

}  // namespace tessera::text
