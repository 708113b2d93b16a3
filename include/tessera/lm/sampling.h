// Next-token sampling from one row of logits: repetition penalty, temperature,
// top-k and top-p (nucleus) filtering, then one draw from a Philox stream.
//
// The filters compose in Hugging Face's order (RepetitionPenalty ->
// Temperature -> TopK -> TopP), so a setting means what it means there:
//   - repetition_penalty r (CTRL, Keskar et al. 2019): a token already in the
//     history has its logit divided by r when positive, multiplied when negative.
//   - temperature 0 is greedy: the argmax, ties going to the lowest id; top-k
//     and top-p cannot change the argmax, so they are skipped.
//   - top_k k > 0 keeps the tokens whose logit is >= the k-th largest (ties at
//     the threshold are all kept, as HF's TopKLogitsWarper).
//   - top_p p < 1 keeps the smallest set of most probable tokens (after
//     temperature and top-k) whose probability mass reaches p; at least one.
//   - tokens at or past `allowed_vocab` are never drawn (a model whose vocabulary
//     is padded past the tokenizer's, as nanoGPT's 50304 for GPT-2's 50257).
//
// A draw uses one counter of the Generator (philox4x32(counter, seed), 53-bit
// uniform) and walks the kept tokens' cumulative mass in id order, so the same
// (seed, offset) always gives the same token on any machine and thread count.
// Probabilities are computed in double from the float logits.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/random.h"

namespace tessera::lm {

struct SamplingOptions {
  double temperature = 1.0;         // 0: greedy
  int64_t top_k = 0;                // 0: off
  double top_p = 1.0;               // >= 1: off
  double repetition_penalty = 1.0;  // 1: off
  int64_t allowed_vocab = -1;       // < 0: the whole row
};

// Throws tessera::Error naming the field for a negative temperature or top_k,
// top_p outside (0, 1], or a repetition penalty <= 0.
void validate(const SamplingOptions& opts);

// Index of the largest value; ties go to the lowest index. NaN never wins.
int32_t argmax(std::span<const float> logits);

// The distribution a draw is taken from: probabilities over the whole row,
// zero for filtered tokens, summing to 1. At temperature 0 it is one-hot on the
// argmax. `history` holds the ids the repetition penalty applies to.
std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& opts,
                                          std::span<const int32_t> history = {});

// One token from `logits` (a float row of vocabulary size); consumes one counter
// of `gen` unless greedy. Throws if every logit is -inf/NaN after filtering.
int32_t sample_token(std::span<const float> logits, const SamplingOptions& opts, Generator& gen,
                     std::span<const int32_t> history = {});

// The stream of sequence `index` under `seed`: key seed, counters starting at
// index * 2^40, so sequences of one seed never share random numbers and a
// sequence draws the same numbers whatever else is in its batch.
Generator sequence_generator(uint64_t seed, uint64_t index);

}  // namespace tessera::lm
