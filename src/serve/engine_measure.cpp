// measure_tokens_per_second (serve/engine.h): decode throughput through a real
// Engine, for `tessera cost` and the bench.
#include <condition_variable>
#include <mutex>
#include <random>

#include "tessera/core/error.h"
#include "tessera/serve/engine.h"

namespace tessera::serve {

double measure_tokens_per_second(std::shared_ptr<models::GPT> model, std::shared_ptr<const text::Tokenizer> tokenizer,
                                 int64_t concurrency, int64_t prompt_tokens, int64_t new_tokens,
                                 const EngineOptions& engine_options) {
  TSR_CHECK(model != nullptr && tokenizer != nullptr, Error, "measure_tokens_per_second: needs a model and a tokenizer");
  TSR_CHECK(concurrency >= 1 && prompt_tokens >= 1 && new_tokens >= 1, Error,
            "measure_tokens_per_second: concurrency, prompt_tokens and new_tokens must be >= 1, got ", concurrency,
            ", ", prompt_tokens, ", ", new_tokens);
  const int64_t block = model->config().block_size;
  TSR_CHECK(prompt_tokens + new_tokens <= block, Error, "measure_tokens_per_second: prompt_tokens (", prompt_tokens,
            ") + new_tokens (", new_tokens, ") exceed the model's context (block_size ", block, ")");
  // Fixed pseudo-random prompts: the same work on every call.
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(tokenizer->vocab_size()) - 1);

  std::mutex mu;
  std::condition_variable all_done;
  int64_t finished = 0, generated = 0;
  std::string failure;
  double seconds = 0;
  {
    EngineOptions opts = engine_options;
    opts.max_queue = concurrency;
    Engine engine(model, tokenizer, opts);  // checks max_batch and prefill_chunk
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < concurrency; ++i) {
      SequenceRequest r;
      for (int64_t t = 0; t < prompt_tokens; ++t) r.prompt.push_back(id(rng));
      r.max_tokens = new_tokens;
      r.sampling.temperature = 0;
      r.stop_at_eot = false;  // every sequence generates exactly new_tokens
      r.on_done = [&](const SequenceResult& res) {
        std::lock_guard lk(mu);
        ++finished;
        generated += res.completion_tokens;
        if (res.finish_reason == "error" && failure.empty()) failure = res.error;
        if (finished == concurrency) all_done.notify_one();
      };
      TSR_CHECK(engine.submit(std::move(r)), Error, "measure_tokens_per_second: the engine refused request ", i);
    }
    std::unique_lock lk(mu);
    all_done.wait(lk, [&] { return finished == concurrency; });
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  TSR_CHECK(failure.empty(), Error, "measure_tokens_per_second: a sequence failed: ", failure);
  return seconds > 0 ? static_cast<double>(generated) / seconds : 0.0;
}

}  // namespace tessera::serve
