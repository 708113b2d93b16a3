// Tokenizers: text <-> token ids. Implementations: CharTokenizer (a character
// vocabulary taken from a corpus) and ByteLevelBPE (GPT-2 compatible byte-level
// BPE: loads encoder.json + vocab.bpe, or a trained vocabulary). Both decode
// losslessly to the original bytes and accept arbitrary bytes (invalid UTF-8,
// NUL) without crashing. WordPieceTokenizer (wordpiece.h: BERT's vocab.txt or
// a BertTokenizerFast tokenizer.json) normalizes (lowercase, accents), so its
// decode() is not lossless; it too accepts arbitrary bytes. SentencePieceBPE
// (sentencepiece_bpe.h: LLaMA's tokenizer from a GGUF file, gguf_vocab.h)
// decodes "▁" as a space and hides control tokens; it accepts arbitrary bytes.
//
// Files: a tokenizer is saved as one JSON file in Hugging Face's
// `tokenizer.json` layout ("model": {"type": "BPE", "vocab", "merges"},
// "added_tokens", byte-level pre-tokenizer/decoder) plus a "tessera" object
// {"format_version": 1, "kind": "bpe" | "char" | "wordpiece" | "spm"} inside "model" (Hugging Face
// `tokenizers` rejects unknown top-level keys but ignores them there, so HF
// loads our BPE files; a top-level "tessera" object is read as well). load_tokenizer() reads
// that file, a folder holding it, or a folder with GPT-2's encoder.json and
// vocab.bpe. Bad or mismatched files raise tessera::Error naming the file and
// the problem.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // allow_special: literal special-token strings in the text (e.g.
  // "<|endoftext|>") become their ids; otherwise they are encoded as text.
  virtual std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const = 0;
  // The same ids as encode(), computed on get_num_threads() threads where the
  // tokenizer can split the text without changing the result (ByteLevelBPE);
  // others encode on one thread.
  virtual std::vector<int32_t> encode_parallel(std::string_view text, bool allow_special = true) const {
    return encode(text, allow_special);
  }
  // The exact bytes the ids stand for (may be invalid UTF-8 if the ids cut a character).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The raw bytes of one token (for streaming; can be part of a UTF-8 character).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual int64_t vocab_size() const = 0;
  // The document separator, "<|endoftext|>", when the vocabulary has one.
  virtual std::optional<int32_t> eot_id() const = 0;
  // Id of a special token by its text, if present.
  virtual std::optional<int32_t> special_id(std::string_view text) const = 0;
  // The token a prompt starts with when adds_bos() (LLaMA's "<s>"); none for
  // GPT-2-style vocabularies, whose prompts start with the text itself.
  // encode() never adds it: the caller that builds a prompt does.
  virtual std::optional<int32_t> bos_id() const { return std::nullopt; }
  virtual bool adds_bos() const { return false; }
  virtual std::string kind() const = 0;  // "char", "bpe", "wordpiece" or "spm"
  // Writes the tokenizer.json described above (atomically).
  virtual void save(const std::string& path) const = 0;
};

// A tokenizer.json (ours, Hugging Face byte-level BPE or WordPiece), a folder
// holding one, a folder with encoder.json + vocab.bpe (GPT-2's files), a
// folder with BERT's vocab.txt (+ tokenizer_config.json), or a vocab.txt file.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace tessera::text
