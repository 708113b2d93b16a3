// Training a byte-level BPE vocabulary (the minbpe / HF `tokenizers` recipe):
// GPT-2 pre-tokenization, 256 single-byte tokens (id = byte value), then
// repeatedly merge the most frequent adjacent pair inside pre-tokens, and
// finally append the special tokens.
//
// Ties: among pairs with the same count, the one with the smaller (left id,
// right id) wins, so results are deterministic and independent of hash order.
// A merge whose spelling already exists (e.g. "a"+"bc" after "ab"+"c") reuses
// that token's id, as HF does, so every id has a distinct spelling.
// Efficiency: identical pre-tokens are counted once (word -> frequency), pair
// counts are updated incrementally for the words that contain the merged pair,
// and the best pair comes from a lazily-validated max-heap.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/text/bpe.h"

namespace tessera::text {

struct BpeTrainOptions {
  int64_t vocab_size = 4096;          // total, including the 256 bytes and the specials
  std::vector<std::string> specials;  // e.g. {"<|endoftext|>"}; they get the last ids
  int64_t min_frequency = 2;          // stop when the best pair occurs fewer times than this
};

struct BpeTrainStats {
  int64_t unique_words = 0;
  int64_t merges = 0;
};

// texts: documents (special-token strings inside them are boundaries, never
// merged). Stops early (smaller vocabulary) when no pair reaches min_frequency.
std::unique_ptr<ByteLevelBPE> train_bpe(const std::vector<std::string_view>& texts, const BpeTrainOptions& options,
                                        BpeTrainStats* stats = nullptr);

}  // namespace tessera::text
