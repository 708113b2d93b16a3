// Token shards: a tokenized corpus on disk for language-model pretraining.
//
// `prepare_shards` turns text files into token ids (documents separated by the
// tokenizer's <|endoftext|>), splits the documents into train/val with a seeded
// shuffle (or, with split "contiguous", cuts the concatenated text at a
// character position as nanoGPT's prepare.py does), and writes DIR/{train,val}_NNNNNN.bin shards, DIR/tokenizer.json (the
// tokenizer's saved form, so training and generation need only this folder) and
// DIR/meta.json (written last: its presence marks a complete folder).
//
// A shard file: a 256-byte header, then `num_tokens` little-endian ids.
//   offset  0  magic "TSRTOKS\0"          (8 bytes)
//   offset  8  format version, uint32      (kShardFormatVersion)
//   offset 12  token width in bytes, uint32 (2 = uint16 when vocab <= 65536, else 4 = uint32)
//   offset 16  vocab size, uint64
//   offset 24  token count, uint64
//   offset 32  tokenizer fingerprint, uint64 (FNV-1a of its tokenizer.json bytes)
//   offset 40  zeros up to 256
// The file size must equal 256 + count * width. Readers memory-map the file and
// check every field (errors name the file, the field, expected and found) and
// every id (< vocab) once when opened.
//
// Batches: TokenSplit::sample draws B windows of T+1 tokens uniformly (over
// all window starts of all shards of the split; windows never cross a shard
// end) from a Philox stream whose (seed, offset) is the whole sampler state, so
// a checkpointed run resumes bit-exactly. TokenSplit::sequential gives the
// fixed, non-overlapping windows used for validation loss.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/core/tensor.h"

namespace tessera::text {

class Tokenizer;

inline constexpr char kShardMagic[8] = {'T', 'S', 'R', 'T', 'O', 'K', 'S', '\0'};
inline constexpr uint32_t kShardFormatVersion = 1;
inline constexpr size_t kShardHeaderBytes = 256;

// 64-bit FNV-1a, the fingerprint of a tokenizer's saved JSON.
uint64_t fnv1a64(const void* data, size_t n);
std::string fingerprint_hex(uint64_t fp);  // 16 lowercase hex digits
// The tokenizer's fingerprint: FNV-1a of the bytes its save() writes.
uint64_t tokenizer_fingerprint(const Tokenizer& tok);

// Writes one shard atomically (temp file, fsync, rename). Ids must lie in [0, vocab).
void write_shard(const std::string& path, const std::vector<int32_t>& tokens, int64_t vocab_size,
                 uint64_t tokenizer_fingerprint);

// One memory-mapped shard, validated when opened.
class TokenShard {
 public:
  // expected_*: when given, the header must agree (vocab mismatch vs the
  // tokenizer, a shard from another tokenizer).
  explicit TokenShard(const std::string& path, std::optional<int64_t> expected_vocab = std::nullopt,
                      std::optional<uint64_t> expected_fingerprint = std::nullopt);
  ~TokenShard();
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;

  const std::string& path() const { return path_; }
  int64_t size() const { return count_; }
  int64_t vocab_size() const { return vocab_; }
  int width() const { return width_; }
  uint64_t fingerprint() const { return fingerprint_; }
  int64_t at(int64_t i) const;  // bounds-checked
  // Copies n ids starting at `start` into dst (widened to int64).
  void read(int64_t start, int64_t n, int64_t* dst) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const unsigned char* tokens_ = nullptr;
  int64_t count_ = 0, vocab_ = 0;
  int width_ = 2;
  uint64_t fingerprint_ = 0;
};

// Inputs and targets of one batch: x = window[0:T], y = window[1:T+1].
struct TokenBatch {
  Tensor x, y;  // (B, T) int64
};

// The shards of one split, seen as a set of windows.
class TokenSplit {
 public:
  TokenSplit() = default;
  explicit TokenSplit(std::vector<std::shared_ptr<TokenShard>> shards);

  int64_t num_tokens() const;
  bool empty() const { return shards_.empty() || num_tokens() == 0; }
  // Number of distinct window starts for windows of T+1 tokens.
  int64_t num_windows(int64_t T) const;
  // B windows uniform over all starts, from gen (advances it by B counters).
  TokenBatch sample(int64_t B, int64_t T, Generator& gen) const;
  // The start positions sample() would pick, as (shard index, offset) pairs (tests).
  std::vector<std::pair<int64_t, int64_t>> sample_starts(int64_t B, int64_t T, Generator& gen) const;
  // Batch `index` of the fixed non-overlapping windows (stride T), wrapping
  // around when the split holds fewer than (index + 1) * B of them.
  TokenBatch sequential(int64_t index, int64_t B, int64_t T) const;
  int64_t num_sequential_windows(int64_t T) const;

 private:
  TokenBatch gather(const std::vector<std::pair<int64_t, int64_t>>& starts, int64_t T) const;
  std::vector<std::shared_ptr<TokenShard>> shards_;
};

// A prepared folder: meta.json plus its shards, all checked against each other.
struct TokenData {
  std::string dir;
  int64_t vocab_size = 0;
  uint64_t fingerprint = 0;
  std::optional<int32_t> eot_id;
  std::string tokenizer_file;  // DIR/tokenizer.json
  std::string meta_json;       // meta.json's text
  TokenSplit train, val;
};
// expected_vocab / expected_fingerprint: from the tokenizer the caller means to use.
TokenData open_token_data(const std::string& dir, std::optional<int64_t> expected_vocab = std::nullopt,
                          std::optional<uint64_t> expected_fingerprint = std::nullopt);

struct PrepareOptions {
  std::vector<std::string> inputs;  // files and folders (a folder: one document per file)
  std::string out_dir;
  std::string tokenizer_source;     // recorded in meta.json
  double val_fraction = 0.1;
  int64_t val_docs = -1;            // >= 0: exactly this many validation documents (overrides val_fraction)
  int64_t shard_tokens = int64_t{1} << 24;
  uint64_t seed = 1337;
  std::string doc_separator;        // non-empty: a line equal to it splits a file into documents
  bool blank_line_docs = false;     // blank lines split a file into documents (instead of doc_separator)
  // "documents": the seeded document split above, <|endoftext|> after each
  // document. "contiguous": nanoGPT's split: the inputs concatenated, the first
  // floor(n * (1 - val_fraction)) of their n characters (UTF-8 code points) are
  // train, the rest val, each part encoded as one text with no separators.
  std::string split = "documents";
  bool verbose = true;              // notices (skipped files) and a summary on stdout
};
struct PrepareResult {
  int64_t documents = 0, train_documents = 0, val_documents = 0;
  int64_t train_tokens = 0, val_tokens = 0;
  std::vector<std::string> shards;   // file names, train first
  std::vector<std::string> skipped;  // inputs left out, with the reason
  std::string meta_json;
};
PrepareResult prepare_shards(const Tokenizer& tok, const PrepareOptions& options);
// The same, with a tokenizer trained on the collected documents (all of them,
// in corpus order) by `train_tokenizer`; it is saved as DIR/tokenizer.json.
using TokenizerTrainer = std::function<std::unique_ptr<Tokenizer>(const std::vector<std::string_view>& documents)>;
PrepareResult prepare_shards(const TokenizerTrainer& train_tokenizer, const PrepareOptions& options);

}  // namespace tessera::text
