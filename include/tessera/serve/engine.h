// The serving engine: continuous batching over one GPT.
//
// One scheduler thread owns the model. Requests wait in a bounded queue; at
// every step the scheduler admits waiting requests into the running batch (up
// to max_batch sequences, each with its own KV cache), prefills at most
// prefill_chunk prompt tokens of the new sequences (oldest first, one
// GPT::forward call per sequence's chunk; a sequence whose prompt is complete
// samples its first token), then advances every sequence past its prefill by
// one token with one batched decode step (GPT::decode_step: the linear layers
// run as (B, C) GEMMs, each sequence attends over its own cache), so a long
// prompt costs the running sequences a chunk's time per step instead of
// stalling their next token for its whole prefill. It samples each
// sequence's next token from its own Philox stream
// (lm::sequence_generator(seed, index)), streams the text that became final,
// and retires sequences that hit a stop string,
// <|endoftext|>, max_tokens, the context, or were cancelled. A request that
// arrives while others decode joins at the next step: it does not wait for the
// batch to drain.
//
// With batching off (max_batch 1) sequences run one after another: the
// baseline the bench compares against.
//
// Results: within one batch size and prefill_chunk a sequence's tokens are a
// function of its prompt, options and seed. Across batch sizes the (B, C) GEMM
// may round a row differently from (1, C), as in every batched server, and a
// prompt prefilled in chunks runs other GEMM shapes than one prefilled whole,
// so a near-tie can sample differently; greedy outputs equal lm::generate's on
// the tests' models, chunked or not.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/lm/sampling.h"
#include "tessera/models/gpt.h"
#include "tessera/text/tokenizer.h"

namespace tessera::serve {

struct EngineOptions {
  int64_t max_batch = 32;     // running sequences at once; 1 = no batching
  int64_t max_queue = 256;    // waiting sequences; submit() refuses beyond
  int threads = 0;            // compute threads (0: leave the process default)
  // Prompt tokens prefilled per step, shared by the sequences still
  // prefilling (oldest first): bounds what a step adds to the running
  // sequences' time per token. 0 = every new prompt whole in the step that
  // admits it (the running sequences wait for the longest prompt).
  int64_t prefill_chunk = 256;
  // Each sequence's KV cache dtype (GPT::make_cache): F32, or BF16 for half
  // the cache memory and the bytes a decode step reads.
  DType kv_cache = DType::F32;
};

struct SequenceResult {
  std::string text;               // generated text (no stop string / eot)
  std::string finish_reason;      // "stop" | "length" | "cancelled" | "error"
  std::string error;              // when finish_reason == "error"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;  // every sampled id (incl. eot / stop-string tokens)
  double queue_seconds = 0;       // submit -> admitted
  double first_token_seconds = 0; // submit -> first token
  double total_seconds = 0;       // submit -> done
};

struct SequenceRequest {
  std::vector<int32_t> prompt;    // token ids, 1 <= size, prompt + max_tokens <= block_size (caller ensures)
  int64_t max_tokens = 16;
  lm::SamplingOptions sampling;   // temperature 0 = greedy
  uint64_t seed = 0;
  uint64_t stream_index = 0;      // n > 1: choice i uses index i
  std::vector<std::string> stop;  // OpenAI `stop`
  bool stop_at_eot = true;
  // Called on the engine thread, never concurrently for one sequence; must not
  // block for long (hand the piece to the connection and return).
  // on_text: each new piece of final text, with the tokens sampled so far.
  std::function<void(std::string_view piece, int64_t completion_tokens)> on_text;
  std::function<void(const SequenceResult&)> on_done;  // exactly once
  // Set by the connection when its client goes away: the sequence retires at
  // the next step with finish_reason "cancelled" and what it had generated.
  std::shared_ptr<std::atomic<bool>> cancelled;
};

struct EngineStats {
  int64_t waiting = 0, running = 0;
  int64_t steps = 0;                  // batched decode steps run
  int64_t tokens_generated = 0;       // sampled ids, all sequences
  int64_t prompt_tokens = 0;          // prefilled ids
  int64_t prefill_chunks = 0;         // prefill model calls (one per sequence per step it prefills in)
  int64_t sequences_finished = 0;
  double busy_seconds = 0;            // time spent in model calls
};

class Engine {
 public:
  // The model is used only by the engine's thread from now on.
  Engine(std::shared_ptr<models::GPT> model, std::shared_ptr<const text::Tokenizer> tokenizer, EngineOptions opts);
  ~Engine();  // stops the thread; queued and running sequences finish "cancelled"
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a sequence; false (and no callback) when the queue is full.
  bool submit(SequenceRequest request);
  EngineStats stats() const;
  const EngineOptions& options() const;
  int64_t block_size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decode throughput of the model at a batch size, for `tessera cost` and the
// bench: `concurrency` sequences of `prompt_tokens` random ids each generate
// `new_tokens` greedy tokens through an Engine with `engine`'s max_batch,
// prefill_chunk and threads (its queue holds them all); returns generated
// tokens per second of wall time (prefill included).
double measure_tokens_per_second(std::shared_ptr<models::GPT> model, std::shared_ptr<const text::Tokenizer> tokenizer,
                                 int64_t concurrency, int64_t prompt_tokens, int64_t new_tokens,
                                 const EngineOptions& engine);

}  // namespace tessera::serve
