// `tessera serve`: the OpenAI-compatible HTTP server (serve/server.h) over one
// GPT checkpoint, metering every request in the usage ledger (billing/ledger.h).
// Runs until SIGINT or SIGTERM, then finishes the requests in flight and exits 0.
#include <cstdlib>

#include "cli_common.h"
#include "tessera/serve/server.h"

namespace tessera::cli {

Command add_serve_command(CLI::App& app) {
  auto o = std::make_shared<serve::ServerOptions>();
  auto* s = app.add_subcommand("serve", "Serve a GPT checkpoint over an OpenAI-compatible HTTP API");
  s->add_option("--checkpoint", o->checkpoint,
                "pretraining run folder (newest checkpoint), checkpoint step folder, or Hugging Face GPT-2 folder")
      ->required();
  s->add_option("--tokenizer", o->tokenizer, "tokenizer.json or a folder with it; default: the checkpoint's");
  s->add_option("--model-name", o->model_name, "the model id clients send (default: the checkpoint folder's name)");
  s->add_option("--host", o->host, "address to listen on (default 127.0.0.1)");
  s->add_option("--port", o->port, "port; 0 = any free port (printed, and written to --port-file)")
      ->check(CLI::Range(0, 65535));
  s->add_option("--port-file", o->port_file, "write the bound port here once listening");
  s->add_option("--db", o->db, "usage ledger: SQLite file or postgresql:// URL (default tessera.db)");
  s->add_option("--instance", o->instance, "this server's name in the ledger (default HOST:PORT)");
  s->add_option("--admin-key", o->admin_key, "key for the /admin/ routes (default $TESSERA_ADMIN_KEY; none = off)");
  s->add_option("--max-batch", o->engine.max_batch, "sequences decoded together (default 32; 1 = no batching)")
      ->check(CLI::PositiveNumber);
  s->add_option("--max-queue", o->engine.max_queue, "sequences waiting at most; beyond: 503 (default 256)")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--prefill-chunk", o->engine.prefill_chunk,
                "prompt tokens prefilled per engine step, between the running sequences' tokens "
                "(default 256; 0 = each prompt whole)")
      ->check(CLI::NonNegativeNumber);
  add_kv_cache_option(s, o->engine.kv_cache);
  s->add_option("--threads", o->engine.threads, "compute threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  s->add_option("--max-body-bytes", o->max_body_bytes, "largest request body; beyond: 413 (default 1 MiB)");
  s->add_option("--max-prompt-tokens", o->max_prompt_tokens, "longest prompt (default 0: the context minus 1)")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--http-threads", o->http_threads, "connections served at once (default 96)")
      ->check(CLI::PositiveNumber);
  return {s, [o] {
            if (o->admin_key.empty())
              if (const char* env = std::getenv("TESSERA_ADMIN_KEY")) o->admin_key = env;
            return serve::run_server(*o);
          }};
}

}  // namespace tessera::cli
