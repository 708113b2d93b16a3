// `tessera quantize`: writes an inference copy of a GPT checkpoint with its
// weights in bf16, int8 (per output channel), or GGUF's Q8_0 / Q4_0 blocks
// (checkpoint/quantized.h), which generate, serve, eval and cost load like
// any other checkpoint; --dtype f32 turns a quantized checkpoint back into a
// float32 one (for fine-tuning).
#include <cstdio>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/checkpoint/quantized.h"

using nlohmann::json;

namespace tessera::cli {
namespace {

struct QuantizeArgs {
  std::string checkpoint, out, dtype, tokenizer, embedding_dtype;
  bool overwrite = false;
  std::string format = "text";
};

int run_quantize(const QuantizeArgs& a) {
  const quant::WeightFormat fmt = quant::parse_format(a.dtype);
  checkpoint::LoadedGPT g = checkpoint::load_gpt(a.checkpoint, a.tokenizer);
  std::optional<quant::WeightFormat> emb;
  if (!a.embedding_dtype.empty()) emb = quant::parse_format(a.embedding_dtype);
  const checkpoint::QuantizeSummary s =
      checkpoint::write_quantized_gpt(*g.model, *g.tokenizer, g.step, fmt, a.checkpoint, a.out, a.overwrite, emb);
  if (a.format == "json") {
    std::cout << json({{"out", s.out_dir},
                       {"dtype", quant::format_name(s.format)},
                       {"embedding_dtype", quant::format_name(s.embedding_format)},
                       {"packed_tensors", s.packed_tensors},
                       {"kept_f32", s.kept_f32},
                       {"weight_bytes_f32", s.bytes_before},
                       {"weight_bytes", s.bytes_after}})
                     .dump()
              << "\n";
    return 0;
  }
  char line[200];
  std::snprintf(line, sizeof line,
                "wrote %s: %lld weight matrices in %s (token embedding %s), %.1f MB of weights (%.1f MB in float32)\n",
                s.out_dir.c_str(), static_cast<long long>(s.packed_tensors), quant::format_name(s.format),
                quant::format_name(s.embedding_format),
                s.bytes_after / 1e6, s.bytes_before / 1e6);
  std::cout << line;
  for (const auto& name : s.kept_f32)
    std::cout << "  kept in float32 (rows not a multiple of 32 values): " << name << "\n";
  return 0;
}

}  // namespace

Command add_quantize_command(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* c = app.add_subcommand("quantize", "Write a GPT checkpoint with bf16, int8, q8_0 or q4_0 weights for inference");
  c->add_option("--checkpoint", a->checkpoint, "GPT checkpoint, run folder or Hugging Face GPT-2 folder")->required();
  c->add_option("--out", a->out, "folder to write (a checkpoint generate/serve/eval/cost load)")->required();
  c->add_option("--dtype", a->dtype, "bf16 | int8 | q8_0 | q4_0 | f32 (f32 dequantizes)")
      ->required()
      ->check(CLI::IsMember({"bf16", "int8", "q8_0", "q4_0", "f32", "fp32"}));
  c->add_option("--embedding-dtype", a->embedding_dtype,
                "format of the token embedding / tied output projection (default: --dtype, but q8_0 for q4_0)")
      ->check(CLI::IsMember({"bf16", "int8", "q8_0", "q4_0", "f32", "fp32"}));
  c->add_option("--tokenizer", a->tokenizer, "tokenizer to use instead of the checkpoint's");
  c->add_flag("--overwrite", a->overwrite, "replace a checkpoint already in --out");
  c->add_option("--format", a->format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));
  return {c, [a] { return run_quantize(*a); }};
}

}  // namespace tessera::cli
