// llama.cpp's GGUF model files <-> models::GPT. load_gpt (language_model.h)
// reads a .gguf through load_gguf_model and adds the tokenizer the file
// carries (text/gguf_vocab.h), so generate, serve, eval and cost take
// `--checkpoint model.gguf`; export_gguf writes a Tessera GPT so llama.cpp
// runs it (`tessera export --format gguf`).
//
// Architectures (general.architecture):
//   llama  RMSNorm, rotary positions, SwiGLU, no biases: token_embd,
//          blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
//          ffn_gate, ffn_up, ffn_down}, output_norm, output (absent: tied).
//          llama.cpp rotates interleaved pairs (x[2i], x[2i+1]) and
//          convert_hf_to_gguf.py permutes the rows of attn_q / attn_k to
//          match; Tessera's rope is HF's rotate_half, so the permutation is
//          undone on load (and applied on export). It moves whole rows, so it
//          works on quantized rows too. q, k, v are stacked into c_attn.
//          Grouped-query attention (head_count_kv < head_count) and rope
//          scaling are refused.
//   gpt2   LayerNorm with biases, learned positions, GELU: token_embd,
//          position_embd, blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm,
//          ffn_up, ffn_down} (weights and biases), output_norm, output (absent:
//          tied).
// Tensor types: F32, F16, BF16 (loaded as float32) and Q8_0, Q4_0 (their
// blocks byte for byte as quant::PackedWeight, attached to the Linear and
// Embedding layers with quant::attach: the model runs from them and
// quant::packed_weights lists them; q/k rows un-permuted, q, k, v stacked when
// they share a type, else dequantized to float32).
// Everything else is refused by name (e.g. "Q4_K"), as is an unknown
// architecture, a missing or unexpected tensor, or a shape that disagrees with
// the hyperparameters: one-line errors naming the file.
#pragma once
#include <memory>
#include <string>

#include "tessera/io/gguf.h"
#include "tessera/models/gpt.h"
#include "tessera/text/tokenizer.h"

namespace tessera::checkpoint {

struct LoadedGgufModel {
  std::shared_ptr<models::GPT> model;
  std::string architecture;  // "llama" | "gpt2"
  std::string name;          // general.name, "" when absent
};

// The model alone (no tokenizer). Throws tessera::Error naming the file.
LoadedGgufModel load_gguf_model(const std::string& path);
LoadedGgufModel load_gguf_model(const io::GgufFile& file);

// The tokenizer the file carries (tokenizer.ggml.*); an error naming the file
// when it has none or one this build cannot run.
std::unique_ptr<text::Tokenizer> gguf_tokenizer(const io::GgufFile& file);

struct GgufExportOptions {
  // Linear and embedding weights: f32, f16, q8_0 or q4_0 (norms, biases and
  // position embeddings stay f32, as llama.cpp's converter keeps them). A
  // matrix whose rows are not a multiple of 32 long stays f16/f32.
  std::string dtype = "f32";
  std::string name;  // general.name
};

// Writes `model` (float32 or holding packed weights: a matrix already in the
// requested block format is written as is) with `tokenizer` as a GGUF v3 file that llama.cpp loads:
// architecture gpt2 for learned positions + LayerNorm + GELU, llama for
// rope + RMSNorm + SwiGLU without biases; other mixtures are refused with the
// field that llama.cpp cannot express. The tokenizer must be byte-level BPE
// (GPT-2's, or one trained by tessera tokenizer train): llama.cpp has no
// character-level vocabulary, so a char tokenizer is an error. A vocabulary
// padded past the tokenizer's (50304 for 50257) gets unused [PADn] tokens.
void export_gguf(const models::GPT& model, const text::Tokenizer& tokenizer, const std::string& path,
                 const GgufExportOptions& options = {});

}  // namespace tessera::checkpoint
