// Quantized GPT checkpoints: what `tessera quantize` writes and every GPT
// loader (generate, serve, eval, cost) reads.
//
// The folder is a Tessera language-model checkpoint (checkpoint/inspect.h:
// config.json with "format_version": 1, "task": "language_model", "model")
// plus "weight_format" ("bf16" | "int8" | "q8_0" | "q4_0", or "f32" for a
// dequantized copy) and "quantized_from" (the source path). model.safetensors
// holds the float32 tensors as before and, for each packed weight (every
// Linear and the token embedding; see quant/quantize_model.h), its stored
// form under the parameter's name:
//   bf16   BF16 (rows, cols)
//   int8   I8 (rows, cols) and "<name>.scale" F32 (rows)
//   q8_0   U8 (rows, cols / 32 * 34): GGUF Q8_0 blocks
//   q4_0   U8 (rows, cols / 32 * 18): GGUF Q4_0 blocks
// with the safetensors metadata "tessera.packed" = {"<name>": {"format",
// "rows", "cols"}, ...} saying which tensors those are. The tokenizer is
// written beside them (tokenizer.json).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/checkpoint/inspect.h"
#include "tessera/models/gpt.h"
#include "tessera/quant/packed_weight.h"
#include "tessera/text/tokenizer.h"

namespace tessera::checkpoint {

struct QuantizeSummary {
  std::string out_dir;
  quant::WeightFormat format = quant::WeightFormat::F32;
  quant::WeightFormat embedding_format = quant::WeightFormat::F32;
  int64_t packed_tensors = 0;
  std::vector<std::string> kept_f32;  // weights left float32 (rows not a multiple of 32)
  int64_t bytes_before = 0, bytes_after = 0;  // weight bytes, float32 vs as stored
};

// Writes `model` in `format` to out_dir (created; an existing config.json
// there is an error unless overwrite). A packed model is dequantized first, so
// f32 gives back a float32 checkpoint. source names the input in
// "quantized_from". The token embedding (also the output projection when
// tied) goes in `embedding_format`, by default the same format except for
// q4_0, where it is q8_0: the output projection is where 4 bits cost most
// (llama.cpp's Q4_0 keeps it in Q6_K for the same reason; q4_0 everywhere
// is embedding_format q4_0, llama.cpp's --pure).
QuantizeSummary write_quantized_gpt(models::GPT& model, const text::Tokenizer& tokenizer, int64_t step,
                                    quant::WeightFormat format, const std::string& source, const std::string& out_dir,
                                    bool overwrite = false,
                                    std::optional<quant::WeightFormat> embedding_format = std::nullopt);

// The checkpoint's "weight_format", or "" when config.json has none (a float32 checkpoint).
std::string weight_format_of(const Found& f);

// Loads a checkpoint written by write_quantized_gpt: the GPT is built from
// `config` and the packed weights attached. Errors name the file and tensor:
// a packed tensor missing or of the wrong dtype/shape/byte count, an unknown
// format, metadata that is not the JSON described above.
std::shared_ptr<models::GPT> load_quantized_gpt(const Found& f, const models::GPTConfig& config);

}  // namespace tessera::checkpoint
