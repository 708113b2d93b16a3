// Text generation with a GPT and a tokenizer: prefill the prompt into a KV
// cache, then decode one token per step with lm/sampling.h, streaming text as
// it forms complete UTF-8, until a stop string, <|endoftext|>, max_new_tokens
// or the context length.
//
// Batches are exact: every sequence has its own KV cache (prefilled alone with
// its own prompt length, so no padding or attention mask is involved) and its
// own random stream, and the sequences are decoded in lockstep, one (1, 1)
// forward per live sequence per step. A sequence therefore yields the same
// tokens alone or in any batch. (Batched (B, 1) decoding of equal-length
// prompts would be faster, but BLAS may round a row differently at another
// batch size, which can flip a sampled token.)
//
// Context policy (no sliding window): with block_size C and max_new_tokens N,
// N must be < C (else an error). A prompt of more than C - N tokens keeps its
// last C - N tokens and the result says so (prompt_truncated). So a sequence
// never outgrows the context; if it did, it would stop with "length".
//
// Empty prompts: generation starts from <|endoftext|> (GPT-2's convention for
// unconditional samples), counted as one prompt token; a tokenizer without it
// makes an empty prompt an error.
//
// BOS: a tokenizer that adds one (LLaMA's "<s>": Tokenizer::adds_bos()) gets
// it in front of every text prompt (encode_prompt below, which generate(), the
// server's completions and its /tokenize route all use), as llama.cpp does;
// an empty prompt is then just BOS.
//
// No-cache mode (use_kv_cache = false) is the baseline the KV cache is
// measured against: every step recomputes the forward over the whole sequence
// so far (prompt + sampled tokens), keeping nothing from the previous step.
// It runs through the same forward as the cached path, from position 0 into a
// scratch cache that is cleared before every step, and computes the output
// projection for the last position only (as transformers' generate does with
// logits_to_keep); so at temperature 0 it yields the cached path's tokens.
//
// Timing: each Completion says how long its prefill (the prompt's forward and
// the first sample) and its decode steps (one forward + sample per further
// token) took, measured around the model calls, so tokens/s can be reported
// for decoding alone.
//
// Token counts are exact: prompt_tokens are the ids fed to the model (after
// truncation); completion_tokens are all ids sampled, including the
// <|endoftext|> or the tokens of a stop string that ended the sequence (the
// model computed them), even though the returned text leaves them out.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/lm/sampling.h"
#include "tessera/models/gpt.h"
#include "tessera/text/tokenizer.h"

namespace tessera::lm {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  double repetition_penalty = 1.0;
  // Sequence i draws from sequence_generator(seed, i), or from
  // sequence_generator(seeds[i], 0) when `seeds` is given (one per prompt), so
  // a request served inside any batch reproduces with its own seed.
  uint64_t seed = 0;
  std::vector<uint64_t> seeds{};
  // A sequence stops at the first occurrence of any of these in its text; the
  // text returned ends just before it (as OpenAI's `stop`).
  std::vector<std::string> stop{};
  bool stop_at_eot = true;       // stop when <|endoftext|> is sampled (not in the text)
  bool allow_special_in_prompt = true;  // "<|endoftext|>" in a prompt is the special id
  bool use_kv_cache = true;      // false: recompute the whole sequence every step (baseline)
  // The KV cache's dtype: F32, or BF16 (half the memory and the bytes a
  // decode step reads; tokens may then differ from full recomputation).
  DType kv_cache = DType::F32;
};

struct Completion {
  std::string text;              // generated text only (no prompt, no stop string, no eot)
  std::vector<int32_t> tokens;   // every sampled id, including a final eot / stop-string tokens
  std::string finish_reason;     // "stop" (eot or stop string) | "length"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  bool prompt_truncated = false;  // the prompt lost its first tokens to fit the context
  int64_t prompt_tokens_dropped = 0;
  // Wall time of this sequence's model calls (forward + sampling). The first
  // token comes from the prefill; each of the decode_steps computes one more.
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  int64_t decode_steps = 0;
  double decode_tokens_per_second() const { return decode_seconds > 0 ? decode_steps / decode_seconds : 0.0; }
};

// Called with each new piece of sequence `index`'s text as soon as it is
// complete UTF-8 and cannot be the start of a stop string. A sequence's
// pieces concatenate to its Completion::text (a trailing cut character, if the
// output ends inside one, comes in the last piece as raw bytes).
using StreamCallback = std::function<void(size_t index, std::string_view piece)>;

// The ids of a text prompt: bos_id() first when the tokenizer adds_bos() (and
// the text does not already start with it), then encode(text, allow_special).
std::vector<int32_t> encode_prompt(const text::Tokenizer& tokenizer, std::string_view text, bool allow_special);

// Generates a completion for every prompt. Grad mode is turned off inside.
std::vector<Completion> generate(models::GPT& model, const text::Tokenizer& tokenizer,
                                 const std::vector<std::string>& prompts, const GenerateOptions& opts,
                                 const StreamCallback& on_text = {});
// The same from token ids (an empty prompt starts from eot as above).
std::vector<Completion> generate_ids(models::GPT& model, const text::Tokenizer& tokenizer,
                                     const std::vector<std::vector<int32_t>>& prompts,
                                     const GenerateOptions& opts, const StreamCallback& on_text = {});

// Loading a model and its tokenizer from disk: checkpoint/language_model.h.

}  // namespace tessera::lm
