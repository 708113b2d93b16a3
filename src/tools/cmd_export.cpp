// `tessera export`: a GPT checkpoint in another program's format. Today
// --format gguf (checkpoint/gguf_model.h): a file llama.cpp runs, with the
// model's byte-level BPE vocabulary, weights in f32, f16, q8_0 or q4_0.
#include <filesystem>
#include <iostream>

#include "cli_common.h"
#include "tessera/checkpoint/gguf_model.h"
#include "tessera/checkpoint/language_model.h"

namespace tessera::cli {
namespace {

struct ExportArgs {
  std::string checkpoint, tokenizer, format = "gguf", out, dtype = "f32", name;
};

int run_export(const ExportArgs& a) {
  checkpoint::LoadedGPT loaded = checkpoint::load_gpt(a.checkpoint, a.tokenizer);
  checkpoint::GgufExportOptions opts;
  opts.dtype = a.dtype;
  opts.name = a.name.empty() ? std::filesystem::path(a.out).stem().string() : a.name;
  checkpoint::export_gguf(*loaded.model, *loaded.tokenizer, a.out, opts);
  std::cout << "wrote " << a.out << " (" << std::filesystem::file_size(a.out) << " bytes, "
            << (loaded.model->config().position == "rope" ? "llama" : "gpt2") << " architecture, " << a.dtype
            << " weights) from " << loaded.checkpoint_dir << "\n";
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* c = app.add_subcommand("export", "Write a GPT checkpoint in another format (GGUF for llama.cpp)");
  c->add_option("--checkpoint", a->checkpoint,
                "pretraining run folder, checkpoint step folder or Hugging Face GPT-2 folder")
      ->required();
  c->add_option("--tokenizer", a->tokenizer, "tokenizer to write instead of the checkpoint's");
  c->add_option("--format", a->format, "gguf (default)")->check(CLI::IsMember({"gguf"}));
  c->add_option("--out", a->out, "the file to write (FILE.gguf)")->required();
  c->add_option("--dtype", a->dtype, "weight matrices: f32 (default), f16, q8_0 or q4_0")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}));
  c->add_option("--name", a->name, "general.name in the file (default: the file name)");
  return {c, [a] { return run_export(*a); }};
}

}  // namespace tessera::cli
