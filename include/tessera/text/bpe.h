// Byte-level BPE (GPT-2 compatible): the GPT-2 pre-tokenizer, the byte <->
// printable-unicode map used in vocabulary files, and the ByteLevelBPE
// tokenizer itself (GPT-2's encoder.json + vocab.bpe, a Hugging Face
// byte-level tokenizer.json, or a vocabulary from train_bpe in bpe_trainer.h).
//
// Encoding: the text is split at special tokens (when allowed), each chunk is
// cut into pieces by GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (implemented by hand over code points, categories from ICU), and each
// piece's bytes are merged pair by pair, always the lowest-ranked adjacent
// pair, leftmost first on equal rank (tiktoken's and HF's order).
//
// Invalid UTF-8: the pattern is defined on code points, which invalid bytes do
// not have. Each byte that does not start a well-formed sequence (stray
// continuation, overlong, surrogate, truncated) is one symbol classified like
// U+FFFD (a symbol: neither letter, number nor space), so it joins a
// ` ?[^\s\p{L}\p{N}]+` run. That is exactly what the pattern would do on the
// text decoded with errors="replace", while the piece keeps the original bytes,
// so decode(encode(x)) == x for any bytes, NUL included.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/text/tokenizer.h"

namespace tessera::text {

// End (exclusive byte offset) of the GPT-2 pre-token starting at `pos` (< text.size()).
size_t gpt2_piece_end(std::string_view text, size_t pos);
// All pre-tokens of `text` in order; they concatenate back to `text`.
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

// True when `pos` (0 < pos < text.size()) is a place to cut text for
// parallel encoding: a lone '\n' between printable ASCII characters (cut
// after it), or ' ' between a printable ASCII character and an ASCII letter
// (cut before it). Every GPT-2 pre-token ends there (whitespace pieces hold
// only whitespace; other pieces take a space only at their start), the left
// part does not end in a whitespace run (\s+(?!\S) would take a whole run at
// the end of text but leave its last character in the whole text), and the
// pattern has no look-behind, so the two sides pre-tokenize separately into
// the same pieces.
bool bpe_safe_split(std::string_view text, size_t pos);

// GPT-2's reversible byte -> printable code point map (bytes_to_unicode in
// openai/gpt-2), applied to every byte: the spelling vocab files use.
std::string bytes_to_unicode(std::string_view bytes);
// The inverse; false when `s` holds a code point outside the map.
bool unicode_to_bytes(std::string_view s, std::string& bytes);

class ByteLevelBPE : public Tokenizer {
 public:
  // vocab[id] = the bytes of token id (every one of the 256 single bytes must
  // be present); merges in rank order as (left id, right id), each producing
  // the token spelled left+right; specials: (text, id) with id < vocab.size()
  // (their vocab entry is the special's text). Throws tessera::Error naming
  // `source` when the pieces are inconsistent.
  ByteLevelBPE(std::vector<std::string> vocab, std::vector<std::pair<int32_t, int32_t>> merges,
               std::vector<std::pair<std::string, int32_t>> specials, std::string source = "<memory>");

  // GPT-2's files: a folder with encoder.json and vocab.bpe. "<|endoftext|>" (50256) is special.
  static std::unique_ptr<ByteLevelBPE> from_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe);

  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const override;
  // encode() on all threads: special tokens are found first, then each
  // ordinary span is cut into chunks of about chunk_bytes at bpe_safe_split()
  // points, where the GPT-2 pattern always ends a pre-token and the next one
  // does not depend on what came before, so the ids equal encode()'s exactly.
  // Each worker keeps its own piece cache (no lock contention).
  std::vector<int32_t> encode_parallel(std::string_view text, bool allow_special = true) const override {
    return encode_parallel(text, allow_special, size_t{1} << 16);
  }
  std::vector<int32_t> encode_parallel(std::string_view text, bool allow_special, size_t chunk_bytes) const;
  // Independent texts on all threads (like tiktoken's encode_ordinary_batch).
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string_view>& texts,
                                                 bool allow_special = true) const;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string token_bytes(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::optional<int32_t> eot_id() const override { return special_id("<|endoftext|>"); }
  std::optional<int32_t> special_id(std::string_view text) const override;
  std::string kind() const override { return "bpe"; }
  void save(const std::string& path) const override;

  // Ids of one pre-token's bytes (no special-token handling); exposed for the trainer's tests.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  // HF's model.ignore_merges (Llama 3 style): a pre-token that is itself in the
  // vocabulary becomes that one token without merging. Off for GPT-2.
  void set_ignore_merges(bool on) { ignore_merges_ = on; }
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }
  const std::vector<std::pair<std::string, int32_t>>& specials() const { return specials_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  const Merge* find_merge(int32_t a, int32_t b) const;
  void merge_small(std::vector<int32_t>& ids) const;
  void merge_large(std::vector<int32_t>& ids) const;
  using PieceCache = std::unordered_map<std::string, std::vector<int32_t>>;
  // local: a cache owned by the calling thread (no lock); null = the shared one.
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out, PieceCache* local = nullptr) const;
  void encode_with_specials(std::string_view text, bool allow_special, std::vector<int32_t>& out,
                            PieceCache* local) const;

  std::vector<std::string> vocab_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::vector<std::pair<std::string, int32_t>> specials_;
  std::unordered_map<std::string, int32_t> id_of_;  // bytes -> id, ordinary tokens
  std::array<int32_t, 256> byte_id_{};
  bool ignore_merges_ = false;
  std::unordered_map<uint64_t, Merge> merge_of_;
  // Pieces repeat a lot in text; caching their ids makes encoding several times faster.
  mutable std::mutex cache_mu_;
  mutable PieceCache cache_;
};

}  // namespace tessera::text
