// `tessera generate`: sample text from a GPT checkpoint (Tessera pretraining
// run or step folder, or a Hugging Face GPT-2 folder). One prompt streams to
// stdout as the text forms; several print one after another when done; json
// prints one object per line per prompt with finish_reason and token usage.
// Statistics and warnings go to stderr so stdout holds only the output; the
// timing separates the prefill (prompt) from the decode steps, whose tokens/s
// is the figure to compare (json also carries it per prompt under "timing").
// --no-kv-cache recomputes the whole sequence every step: the baseline that
// shows what the KV cache saves. --profile FILE records the prefill and every
// decode step (or --profile-tokens FIRST-LAST of them) with the profiler and
// prints its table to stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli_common.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/core/parallel.h"
#include "tessera/core/profile_report.h"
#include "tessera/lm/generate.h"

using nlohmann::json;

namespace tessera::cli {
namespace {

struct GenerateArgs {
  std::string checkpoint, tokenizer, prompt_file, format = "text";
  std::vector<std::string> prompts, stop;
  std::optional<int64_t> max_new_tokens;
  double temperature = 1.0, top_p = 1.0, repetition_penalty = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  bool no_stream = false, ignore_eot = false, no_kv_cache = false;
  std::optional<int> threads;
  std::string profile, profile_tokens;
  DType kv_cache = DType::F32;
};

// After a profiled generation: the decode steps FIRST-LAST of --profile-tokens
// (all, with the prefill, when not given) as a Chrome trace and a table.
void report_profile(const std::string& path, const std::string& tokens) {
  profiler::stop();
  std::vector<profiler::Event> events = profiler::collect();
  if (!tokens.empty()) {
    int64_t first = 0, last = 0;
    const size_t dash = tokens.find('-');
    try {
      first = std::stoll(tokens.substr(0, dash));
      last = dash == std::string::npos ? first : std::stoll(tokens.substr(dash + 1));
    } catch (const std::exception&) {
      first = last = 0;
    }
    TSR_CHECK(first >= 1 && last >= first, Error, "--profile-tokens must be FIRST-LAST decode steps (1-based), got '",
              tokens, "'");
    events = profiler::within_steps(events, [&](const profiler::Event& e) {
      return e.name == "decode" && e.step >= first && e.step <= last;
    });
  }
  profiler::write_chrome_trace(events, path);
  std::cerr << "profile of " << (tokens.empty() ? "the prefill and every decode step" : "decode steps " + tokens)
            << ":\n"
            << profiler::format_table(profiler::summarize(events)) << "profile: Chrome trace (" << events.size()
            << " events) written to " << path << "\n";
}

std::vector<std::string> read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), Error, "cannot read --prompt-file '", path, "'");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

int run_generate(const GenerateArgs& a) {
  if (a.threads) set_num_threads(*a.threads);
  std::vector<std::string> prompts = a.prompts;
  if (!a.prompt_file.empty())
    for (auto& p : read_prompt_file(a.prompt_file)) prompts.push_back(std::move(p));
  TSR_CHECK(!prompts.empty(), Error, "no prompt: give --prompt TEXT (repeatable; --prompt \"\" for an unconditional "
                                     "sample) or --prompt-file FILE");

  lm::GenerateOptions o;
  o.temperature = a.temperature;
  o.top_k = a.top_k;
  o.top_p = a.top_p;
  o.repetition_penalty = a.repetition_penalty;
  o.seed = a.seed;
  o.stop = a.stop;
  o.stop_at_eot = !a.ignore_eot;
  o.use_kv_cache = !a.no_kv_cache;
  o.kv_cache = a.kv_cache;
  lm::validate({.temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p,
                .repetition_penalty = o.repetition_penalty});  // before the slow load
  auto loaded = checkpoint::load_gpt(a.checkpoint, a.tokenizer);
  const auto& cfg = loaded.model->config();
  // Default: 128, or half the context of a model with a shorter one.
  o.max_new_tokens = a.max_new_tokens.value_or(std::min<int64_t>(128, cfg.block_size / 2));

  const bool json_out = a.format == "json";
  const bool stream = !json_out && !a.no_stream && prompts.size() == 1;
  lm::StreamCallback cb;
  if (stream)
    cb = [](size_t, std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  if (!a.profile.empty()) profiler::start();
  auto t0 = std::chrono::steady_clock::now();
  auto results = lm::generate(*loaded.model, *loaded.tokenizer, prompts, o, cb);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.profile.empty()) report_profile(a.profile, a.profile_tokens);

  int64_t completion_total = 0, prompt_total = 0, decode_steps = 0;
  double prefill_secs = 0, decode_secs = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    completion_total += r.completion_tokens;
    prompt_total += r.prompt_tokens;
    prefill_secs += r.prefill_seconds;
    decode_secs += r.decode_seconds;
    decode_steps += r.decode_steps;
    if (r.prompt_truncated)
      std::cerr << "warning: prompt " << i << " was longer than the context allows with --max-new-tokens "
                << o.max_new_tokens << " (block_size " << cfg.block_size << "); its first " << r.prompt_tokens_dropped
                << " tokens were dropped\n";
    if (json_out) {
      json j = {{"index", i},
                {"prompt", prompts[i]},
                {"text", r.text},
                {"finish_reason", r.finish_reason},
                {"tokens", r.tokens},  // every sampled id (for exact comparisons)
                {"usage",
                 {{"prompt_tokens", r.prompt_tokens},
                  {"completion_tokens", r.completion_tokens},
                  {"total_tokens", r.prompt_tokens + r.completion_tokens}}},
                {"prompt_truncated", r.prompt_truncated},
                {"kv_cache", o.use_kv_cache},
                {"timing",
                 {{"prefill_seconds", r.prefill_seconds},
                  {"decode_seconds", r.decode_seconds},
                  {"decode_steps", r.decode_steps},
                  {"decode_tokens_per_second", r.decode_tokens_per_second()}}}};
      // Text cut inside a UTF-8 character (by max_new_tokens) becomes U+FFFD here.
      std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    } else if (stream) {
      std::cout << "\n";
    } else {
      if (results.size() > 1)
        std::cout << (i ? "\n" : "") << "=== completion " << i << " (" << r.finish_reason << ", "
                  << r.completion_tokens << " tokens) ===\n";
      std::cout << r.text << "\n";
    }
    if (!json_out)
      std::cerr << "[" << i << "] finish_reason " << r.finish_reason << ", prompt_tokens " << r.prompt_tokens
                << ", completion_tokens " << r.completion_tokens << "\n";
  }
  std::cout.flush();
  // Statistics after the output, so that an error is always a single stderr line.
  std::cerr << "model: " << loaded.checkpoint_dir << " (" << loaded.format
            << (loaded.step >= 0 ? ", step " + std::to_string(loaded.step) : std::string()) << ", "
            << loaded.model->count_parameters(true) << " parameters, context " << cfg.block_size
            << "); tokenizer: " << loaded.tokenizer_path << " (" << loaded.tokenizer->kind() << ", "
            << loaded.tokenizer->vocab_size() << " ids)\n";
  std::cerr << "generated " << completion_total << " tokens in " << secs << " s ("
            << (secs > 0 ? static_cast<double>(completion_total) / secs : 0.0) << " tokens/s, prefill included"
            << (o.use_kv_cache ? (o.kv_cache == DType::BF16 ? ", bf16 KV cache" : "") : ", no KV cache") << ")\n";
  // Sequences run one after another within a step, so summed times are wall time.
  std::cerr << "prefill: " << prompt_total << " prompt tokens in " << prefill_secs << " s; decode: " << decode_steps
            << " steps in " << decode_secs << " s ("
            << (decode_secs > 0 ? static_cast<double>(decode_steps) / decode_secs : 0.0) << " tokens/s)\n";
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto ga = std::make_shared<GenerateArgs>();
  auto* g = app.add_subcommand("generate", "Generate text with a GPT checkpoint");
  g->add_option("--checkpoint", ga->checkpoint,
                "pretraining run folder (newest checkpoint), checkpoint step folder, Hugging Face GPT-2 folder, "
                "or GGUF model file (llama.cpp's llama / gpt2)")
      ->required();
  g->add_option("--tokenizer", ga->tokenizer,
                "tokenizer.json or a folder with it (or encoder.json + vocab.bpe); default: the checkpoint's");
  // One value per flag, so a stray word is an error rather than another prompt.
  g->add_option("-p,--prompt", ga->prompts, "prompt text; repeat for a batch (\"\" starts from <|endoftext|>)")
      ->allow_extra_args(false);
  g->add_option("--prompt-file", ga->prompt_file, "file with one prompt per line");
  g->add_option("-n,--max-new-tokens", ga->max_new_tokens, "tokens to generate at most (default 128, at most half the context)")
      ->check(CLI::NonNegativeNumber);
  g->add_option("-t,--temperature", ga->temperature, "sampling temperature; 0 = greedy (default 1)")
      ->check(CLI::NonNegativeNumber);
  g->add_option("--top-k", ga->top_k, "keep the k most likely tokens; 0 = off (default)")->check(CLI::NonNegativeNumber);
  g->add_option("--top-p", ga->top_p, "nucleus sampling mass in (0, 1]; 1 = off (default)");
  g->add_option("--repetition-penalty", ga->repetition_penalty, "CTRL repetition penalty; 1 = off (default)");
  g->add_option("--seed", ga->seed, "random seed (default 0); the same seed gives the same text");
  g->add_option("--stop", ga->stop, "stop string, repeatable; not included in the output (use $'\\n' for a newline)")
      ->allow_extra_args(false);
  g->add_flag("--ignore-eot", ga->ignore_eot, "keep going after <|endoftext|>");
  g->add_flag("--no-kv-cache", ga->no_kv_cache,
              "recompute the whole sequence at every step (slow; the baseline the KV cache is measured against)");
  add_kv_cache_option(g, ga->kv_cache);
  g->add_flag("--no-stream", ga->no_stream, "print a single prompt's text only when done");
  g->add_option("--format", ga->format, "text (default) or json (one object per prompt per line)")
      ->check(CLI::IsMember({"text", "json"}));
  g->add_option("--threads", ga->threads, "threads (0 = all cores)");
  g->add_option("--profile", ga->profile,
                "profile the generation: Chrome trace to this file, table of time by op (self time) to stderr");
  g->add_option("--profile-tokens", ga->profile_tokens,
                "with --profile: only decode steps FIRST-LAST (1-based), e.g. 10-20 (default: prefill and all)");
  return {g, [ga] { return run_generate(*ga); }};
}

}  // namespace tessera::cli
