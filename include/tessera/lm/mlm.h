// Masked-language-model inputs: BERT's masking (Devlin et al. 2019, and
// Hugging Face's DataCollatorForLanguageModeling): every position whose id is
// not a special token is selected with probability mask_prob; a selected
// position becomes [MASK] with probability replace_mask, a random id in
// [0, vocab_size) with probability replace_random (which may be a special or
// the original id, as in HF), and keeps its id otherwise. labels hold the
// original id at selected positions and -100 (cross_entropy's default
// ignore_index) elsewhere, so the loss covers the selected positions only.
//
// Randomness: position i (row-major over (B, T)) uses the four Philox words of
// counter (offset + i) under the generator's seed: word 0 decides selection,
// word 1 the replacement, words 2-3 the random id. The call reserves B * T
// counters, so the result depends only on (ids, options, generator state)
// and a saved (seed, offset) reproduces the same masks after a resume.
#pragma once
#include <cstdint>
#include <vector>

#include "tessera/core/random.h"
#include "tessera/core/tensor.h"

namespace tessera::lm {

struct MlmOptions {
  double mask_prob = 0.15;      // fraction of non-special positions selected
  double replace_mask = 0.8;    // of the selected: -> mask_id
  double replace_random = 0.1;  // of the selected: -> uniform id in [0, vocab_size); the rest unchanged
  int64_t mask_id = -1;
  int64_t vocab_size = 0;
  std::vector<int64_t> special_ids;  // never selected: [CLS], [SEP], [PAD], ...
  int64_t pad_id = -1;               // attention_mask is 0 where ids == pad_id (-1: no padding)
};

struct MlmBatch {
  Tensor input_ids;       // (B, T) int64: ids after replacement
  Tensor labels;          // (B, T) int64: original id where selected, -100 elsewhere
  Tensor attention_mask;  // (B, T) int64: 1 = token, 0 = padding
  int64_t num_selected = 0;  // positions with a label
};

// ids: (B, T) int64 (any 2-D shape works; so does 1-D). Throws tessera::Error
// naming the field for probabilities outside [0, 1], replace_mask +
// replace_random > 1, mask_id outside [0, vocab_size), or an id outside
// [0, vocab_size).
MlmBatch mask_tokens(const Tensor& ids, const MlmOptions& options, Generator& gen);

}  // namespace tessera::lm
