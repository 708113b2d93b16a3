// The tokenizer a GGUF file carries, as plain values: the GGUF reader
// (src/checkpoint or wherever the file is parsed) fills a GgufVocab from the
// file's tokenizer.ggml.* metadata and calls tokenizer_from_gguf_vocab(). This
// header knows nothing about the file format itself.
//
//   "gpt2"  -> ByteLevelBPE (bpe.h): tokens in GPT-2's byte-to-unicode spelling
//              (encoder.json's keys) + merges "left right"; control (3),
//              unknown (2) and user-defined (4) tokens become specials. Only
//              GPT-2's pre-tokenizer exists here, so tokenizer.ggml.pre must be
//              "gpt-2" or empty. add_bos is not used (GPT-2 prompts have no BOS);
//              without token types, the bos/eos/unk/pad ids are the specials.
//   "llama" -> SentencePieceBPE (sentencepiece_bpe.h): llama.cpp's SPM merge
//              by scores with byte fallback; eot_id() = EOS, bos_id()/adds_bos()
//              from bos / add_bos (llama.cpp's default for a missing add_bos is
//              true), add_space_prefix likewise defaults to true. add_eos is
//              not used: encode() adds nothing, and prompts never end in EOS.
// Anything else (bert, t5, ...), missing merges for gpt2, or scores / types
// whose count differs from the tokens' is a tessera::Error naming `origin`.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/text/tokenizer.h"

namespace tessera::text {

struct GgufVocab {
  std::string model;                 // tokenizer.ggml.model: "gpt2" | "llama"
  std::string pre;                   // tokenizer.ggml.pre, may be empty
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores, may be empty
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type, may be empty: 1 normal, 2 unknown,
                                     // 3 control, 4 user-defined, 5 unused, 6 byte (llama.cpp's values)
  std::vector<std::string> merges;   // tokenizer.ggml.merges ("a b"), gpt2 only
  // tokenizer.ggml.{bos,eos,unknown,padding}_token_id when the file has them.
  std::optional<int32_t> bos, eos, unk, pad;
  // tokenizer.ggml.add_bos_token / add_eos_token / add_space_prefix when the
  // file has them; unset means the model's default (llama: true / false / true).
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string origin;  // the file, named in every error
};

// The tokenizer of `vocab`; throws tessera::Error naming vocab.origin and the
// key at fault when the vocabulary is unsupported or inconsistent.
std::unique_ptr<Tokenizer> tokenizer_from_gguf_vocab(const GgufVocab& vocab);

}  // namespace tessera::text
