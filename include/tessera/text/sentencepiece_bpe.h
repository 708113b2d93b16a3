// SentencePiece BPE with byte fallback: the tokenizer of LLaMA / Llama 2 as
// llama.cpp runs it (llm_tokenizer_spm), built from a GGUF file's vocabulary
// (gguf_vocab.h) or from a tokenizer.json this class saved.
//
// Encoding (llama.cpp's order, which reproduces Hugging Face's Llama
// tokenizer on llama.cpp's test vectors):
//  - with allow_special, the text is first split at control and unknown tokens
//    ("<s>", "</s>", "<unk>"); user-defined tokens are split out always;
//  - each ordinary fragment that starts the text or follows a special token
//    gets a ' ' in front (add_space_prefix), then every ' ' becomes U+2581 "▁";
//  - the fragment is cut into UTF-8 characters (a byte that is not part of a
//    well-formed character is one symbol; llama.cpp instead takes the length
//    its lead byte announces, which differs only on invalid UTF-8) and adjacent
//    symbols are merged while their concatenation is a vocabulary token: the
//    pair whose token has the highest score first, the leftmost on a tie (a
//    priority queue over adjacent pairs; stale entries are skipped);
//  - a final symbol that is not a token becomes one "<0xAB>" token per byte
//    (byte fallback; the single-byte token, then <unk>, where "<0xAB>" is missing).
// Fragments are not pre-tokenized: the whole fragment is one merge problem.
// (When no piece has "▁" after another character, as in Llama's vocabulary,
// no merge can cross the start of a word, so words are merged one by one and
// cached within a call: the same ids, several times faster.)
//
// Decoding: "▁" -> ' ', byte tokens -> their byte, control and unused tokens
// -> nothing (SentencePiece's and llama.cpp's decode), <unk> -> nothing too
// (SentencePiece shows " ⁇ ", llama.cpp "▅"), and one leading ' ' of the first
// token that makes text is removed (the space that encode's add_space_prefix
// put there), so decode(encode(s)) == s for any bytes unless s holds "▁"
// itself (it decodes as ' ') or, with allow_special, a control token's text
// (it becomes that token, which shows nothing). token_bytes() is a single token's
// bytes for streaming: no leading space removed, and control tokens give their
// text ("<s>") so that a stray one is visible in a stream rather than lost.
//
// eot_id() is the EOS token ("</s>"): generation stops there, as it does at
// GPT-2's "<|endoftext|>". bos_id()/adds_bos() tell a caller to put BOS in
// front of a prompt (encode() never adds it).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/text/tokenizer.h"

namespace tessera::text {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class SpmTokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

class SentencePieceBPE : public Tokenizer {
 public:
  struct Options {
    std::optional<int32_t> bos, eos, unk;
    bool add_bos = true;           // a prompt starts with BOS (Llama's default)
    bool add_space_prefix = true;  // " " in front of the text (SentencePiece's add_dummy_prefix)
  };
  // pieces[id] = the token's text in SentencePiece spelling ("▁the", "<0x0A>",
  // "<s>"); scores[id] its merge priority (empty: all 0, as llama.cpp reads a
  // file without scores); types[id] an SpmTokenType value (empty: "<0xAB>"
  // pieces are bytes, bos/eos control, unk unknown, the rest normal). Throws
  // tessera::Error naming `source` for mismatched lengths, an unknown type,
  // special ids outside the vocabulary, repeated pieces or a malformed byte token.
  SentencePieceBPE(std::vector<std::string> pieces, std::vector<float> scores, std::vector<int32_t> types,
                   Options options, std::string source = "<memory>");

  std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string token_bytes(int32_t id) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  std::optional<int32_t> eot_id() const override { return options_.eos; }
  std::optional<int32_t> special_id(std::string_view text) const override;
  std::optional<int32_t> bos_id() const override { return options_.bos; }
  bool adds_bos() const override { return options_.add_bos && options_.bos.has_value(); }
  std::string kind() const override { return "spm"; }
  // A Hugging Face Llama-style tokenizer.json (BPE model with byte_fallback,
  // merges derived from the scores as HF's converter does, Prepend/Replace
  // normalizer, ByteFallback/Fuse/Strip decoder) whose model.tessera object
  // keeps the scores, types and options, so load_tokenizer() rebuilds this
  // exact tokenizer and HF's `tokenizers` reads the same file.
  void save(const std::string& path) const override;
  // Reads what save() wrote (the parsed JSON of `path`); errors name `path`.
  static std::unique_ptr<SentencePieceBPE> from_saved_json(const std::string& path);

  const std::vector<std::string>& pieces() const { return pieces_; }
  const std::vector<float>& scores() const { return scores_; }
  const std::vector<int32_t>& types() const { return types_; }
  const Options& options() const { return options_; }

 private:
  // Transparent hashing: look pieces up by string_view without copying.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::optional<int32_t> find_piece(std::string_view piece) const;
  // One fragment of ordinary text (no specials): normalize, merge, byte fallback.
  void encode_fragment(std::string_view text, bool prefix_space, std::vector<int32_t>& out) const;
  // The merge loop and byte fallback over normalized text.
  void encode_segment(std::string_view normalized, std::vector<int32_t>& out) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<int32_t> types_;
  Options options_;
  std::string source_;
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> id_of_;
  std::array<int32_t, 256> byte_token_{};  // byte fallback: the token of each byte, -1 when none
  std::vector<std::string> text_;          // per id: token_bytes()
  std::vector<bool> makes_text_;           // per id: decode() shows it (normal, byte, user-defined)
  std::vector<std::pair<std::string, int32_t>> all_specials_;  // control + unknown + user-defined
  std::vector<std::pair<std::string, int32_t>> user_defined_;  // split out even without allow_special
  bool word_split_ = false;  // no piece has "▁" after another character: words merge independently
};

}  // namespace tessera::text
