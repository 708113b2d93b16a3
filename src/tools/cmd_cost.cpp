// `tessera cost`: what a generated token costs on this hardware. Measures the
// served model's decode throughput through the serving engine (continuous
// batching at the given concurrency, prefill of the prompts included, so the
// figure is a fully loaded cost per generated token), turns the hourly price of
// the machine into micro-units per million tokens, and with --db records it in
// the ledger (Ledger::set_cost) so `tessera usage report` shows cost and gross
// margin. Prices below cost are flagged here and in the report.
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <optional>

#include "cli_common.h"
#include "tessera/billing/ledger.h"
#include "tessera/billing/money.h"
#include "tessera/core/parallel.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/serve/engine.h"
#include "tessera/serve/server.h"

using nlohmann::json;

namespace tessera::cli {
namespace {

struct CostArgs {
  std::string checkpoint, tokenizer, model_name, db, hourly_price, format = "table";
  int64_t concurrency = 8, prompt_tokens = 64, new_tokens = 64, max_batch = 32;
  int64_t prefill_chunk = serve::EngineOptions{}.prefill_chunk;
  std::optional<int> threads;
  DType kv_cache = DType::F32;
};

// ceil(hourly * 1e6 / (tokens/s * 3600)): micro-units per million generated tokens.
int64_t micros_per_mtok(int64_t hourly_micros, double tokens_per_second) {
  const double v = static_cast<double>(hourly_micros) * 1e6 / (tokens_per_second * 3600.0);
  return static_cast<int64_t>(std::ceil(v));
}

int run_cost(const CostArgs& a) {
  const int64_t hourly = billing::parse_micros(a.hourly_price, "--hourly-price");
  TSR_CHECK(hourly > 0, Error, "--hourly-price must be > 0, got '", a.hourly_price, "'");
  if (a.threads) set_num_threads(*a.threads);
  std::unique_ptr<billing::Ledger> ledger;
  if (!a.db.empty()) ledger = billing::Ledger::open(a.db, "cli");  // fail before the slow part
  auto loaded = checkpoint::load_gpt(a.checkpoint, a.tokenizer);
  const std::string model = a.model_name.empty() ? serve::default_model_name(a.checkpoint) : a.model_name;
  const int64_t block = loaded.model->config().block_size;
  TSR_CHECK(a.prompt_tokens + a.new_tokens <= block, Error, "--prompt-tokens (", a.prompt_tokens,
            ") + --new-tokens (", a.new_tokens, ") exceed the model's context of ", block, " tokens");
  std::shared_ptr<const text::Tokenizer> tok(std::move(loaded.tokenizer));
  const serve::EngineOptions engine{.max_batch = a.max_batch, .prefill_chunk = a.prefill_chunk, .kv_cache = a.kv_cache};
  // A short warm-up (allocator, BLAS threads), then the measured run.
  serve::measure_tokens_per_second(loaded.model, tok, 1, std::min<int64_t>(a.prompt_tokens, 8), 4, engine);
  const double tps =
      serve::measure_tokens_per_second(loaded.model, tok, a.concurrency, a.prompt_tokens, a.new_tokens, engine);
  TSR_CHECK(tps > 0, Error, "the benchmark generated no tokens");

  billing::Cost c;
  c.model = model;
  c.tokens_per_second = tps;
  c.hourly_price_micros = hourly;
  c.micros_per_mtok = micros_per_mtok(hourly, tps);
  c.measured_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::optional<billing::Price> price;
  if (ledger) {
    ledger->set_cost(c);
    billing::Price p = ledger->current_price(model);
    if (p.version > 0) price = p;
  }
  const bool under = price && price->output_micros_per_mtok < c.micros_per_mtok;
  if (a.format == "json") {
    json j = {{"model", model},
              {"tokens_per_second", tps},
              {"hourly_price", billing::format_micros(hourly)},
              {"cost_per_mtok", billing::format_micros(c.micros_per_mtok)},
              {"cost_micros_per_mtok", c.micros_per_mtok},
              {"concurrency", a.concurrency},
              {"prompt_tokens", a.prompt_tokens},
              {"new_tokens", a.new_tokens},
              {"max_batch", a.max_batch},
              {"prefill_chunk", a.prefill_chunk},
              {"kv_cache", a.kv_cache == DType::BF16 ? "bf16" : "fp32"},
              {"recorded", ledger != nullptr}};
    if (price) {
      j["price_version"] = price->version;
      j["output_price_per_mtok"] = billing::format_micros(price->output_micros_per_mtok);
      j["under_cost"] = under;
    }
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "model " << model << ": " << std::fixed << std::setprecision(1) << tps
              << " generated tokens/s (concurrency " << a.concurrency << ", prompt " << a.prompt_tokens << " + "
              << a.new_tokens << " new tokens, max batch " << a.max_batch << ", prefill included)\n"
              << "cost: " << billing::format_micros(c.micros_per_mtok) << " per million generated tokens at "
              << billing::format_micros(hourly) << " per hour\n";
    if (price) {
      const double margin = price->output_micros_per_mtok > 0
                                ? 100.0 * static_cast<double>(price->output_micros_per_mtok - c.micros_per_mtok) /
                                      static_cast<double>(price->output_micros_per_mtok)
                                : -100.0;
      std::cout << "price v" << price->version << ": " << billing::format_micros(price->output_micros_per_mtok)
                << " per million output tokens -> gross margin " << std::setprecision(1) << margin << "%"
                << (under ? "  UNDER COST" : "") << "\n";
    } else if (ledger) {
      std::cout << "no price set for " << model << " (tessera plans price " << model << " --db " << a.db
                << " --input USD --output USD)\n";
    }
    if (ledger) std::cout << "recorded in " << a.db << "\n";
  }
  return 0;
}

}  // namespace

Command add_cost_command(CLI::App& app) {
  auto ca = std::make_shared<CostArgs>();
  auto* c = app.add_subcommand("cost", "Measure the cost per generated token of a model on this machine");
  c->add_option("--checkpoint", ca->checkpoint, "model to measure (as for tessera serve)")->required();
  c->add_option("--tokenizer", ca->tokenizer, "tokenizer override (as for tessera serve)");
  c->add_option("--model-name", ca->model_name, "model id in the ledger (default: the checkpoint folder's name, as serve)");
  c->add_option("--hourly-price", ca->hourly_price, "what an hour of this machine costs, e.g. 2.50 (exact decimal)")
      ->required();
  c->add_option("--db", ca->db, "ledger (SQLite path or postgresql:// URL) to record the cost in");
  c->add_option("--concurrency", ca->concurrency, "sequences generated at once (default 8)")->check(CLI::PositiveNumber);
  c->add_option("--prompt-tokens", ca->prompt_tokens, "prompt length of each sequence (default 64)")
      ->check(CLI::PositiveNumber);
  c->add_option("--new-tokens", ca->new_tokens, "tokens generated per sequence (default 64)")->check(CLI::PositiveNumber);
  c->add_option("--max-batch", ca->max_batch, "engine batch limit, as tessera serve --max-batch (default 32)")
      ->check(CLI::PositiveNumber);
  c->add_option("--prefill-chunk", ca->prefill_chunk,
                "prompt tokens prefilled per engine step, as tessera serve --prefill-chunk (default 256; 0 = whole)")
      ->check(CLI::NonNegativeNumber);
  add_kv_cache_option(c, ca->kv_cache);
  c->add_option("--threads", ca->threads, "compute threads (0 = all cores)");
  c->add_option("--format", ca->format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));
  return {c, [ca] { return run_cost(*ca); }};
}

}  // namespace tessera::cli
