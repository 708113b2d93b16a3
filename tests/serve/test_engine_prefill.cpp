// Chunked prefill in the serving engine (EngineOptions::prefill_chunk): a
// long prompt prefilled in chunks yields the greedy tokens of one prefilled
// whole (and of lm::generate), and while it prefills the running sequences
// keep getting a token every step. Counts steps and tokens, never time.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "serve/engine_test_util.h"

using namespace tessera;
using namespace tessera::serve;
using namespace tessera::serve::engine_test;

namespace {

// A prompt of n printable characters that the char tokenizer maps one to one.
std::string long_prompt(int64_t n) {
  const std::string text = "It was a bright cold day in April, and the clocks were striking thirteen. ";
  std::string s;
  while (static_cast<int64_t>(s.size()) < n) s += text;
  return s.substr(0, static_cast<size_t>(n));
}

int64_t chunks_for(int64_t tokens, int64_t chunk) { return chunk == 0 ? 1 : (tokens + chunk - 1) / chunk; }

void check_chunked_equals_whole(bool llama) {
  auto tok = char_tokenizer();
  auto cfg = tiny_config(tok->vocab_size(), llama);
  cfg.block_size = 160;
  models::GPT ref(cfg, 21);
  SequenceRequest req = greedy_request(*tok, long_prompt(130), 24);
  req.stop_at_eot = false;
  ASSERT_EQ(req.prompt.size(), 130u);
  const lm::Completion want = reference(ref, *tok, req);
  for (int64_t chunk : {0, 1, 7, 64, 129, 130, 256}) {
    Collector c(1);
    auto model = std::make_shared<models::GPT>(cfg, 21);
    EngineStats st;
    {
      Engine engine(model, tok, {.max_batch = 4, .threads = 1, .prefill_chunk = chunk});
      SequenceRequest r = req;
      c.wire(r, 0);
      ASSERT_TRUE(engine.submit(std::move(r)));
      c.wait_all();
      st = engine.stats();
    }
    const std::string what = "prefill_chunk " + std::to_string(chunk) + (llama ? " (llama)" : "");
    expect_same(c.out[0], want, what);
    EXPECT_EQ(st.prompt_tokens, 130) << what;
    EXPECT_EQ(st.prefill_chunks, chunks_for(130, chunk)) << what;
    // The first token comes with the last chunk; each later one takes a step.
    EXPECT_EQ(st.steps, 24 - 1) << what;
  }
}

}  // namespace

TEST(EnginePrefill, ChunkedGreedyEqualsWhole) { check_chunked_equals_whole(false); }
TEST(EnginePrefill, ChunkedGreedyEqualsWholeLlama) { check_chunked_equals_whole(true); }

// A decodes; from its third token on B (a 100-token prompt) arrives. With
// chunks of 8, B prefills over 13 steps, and A gets a token in every one of
// them; with chunk 0 B prefills whole at admission and A waits for it.
TEST(EnginePrefill, RunningSequencesKeepDecodingWhileALongPromptPrefills) {
  auto tok = char_tokenizer();
  auto cfg = tiny_config(tok->vocab_size());
  cfg.block_size = 128;
  models::GPT ref(cfg, 4);
  SequenceRequest a = greedy_request(*tok, "Short", 40);
  SequenceRequest b = greedy_request(*tok, long_prompt(100), 5);
  a.stop_at_eot = b.stop_at_eot = false;  // every token makes text: one on_text call per token
  const lm::Completion want_a = reference(ref, *tok, a), want_b = reference(ref, *tok, b);
  for (int64_t chunk : {8, 0}) {
    const std::string what = "prefill_chunk " + std::to_string(chunk);
    auto model = std::make_shared<models::GPT>(cfg, 4);
    Collector c(2);
    Engine engine(model, tok, {.max_batch = 4, .threads = 1, .prefill_chunk = chunk});
    std::mutex mu;
    std::vector<int64_t> a_steps;  // EngineStats::steps when each of A's tokens arrived
    int64_t a_tokens_at_b_submit = -1, a_tokens_at_b_first = -1, a_tokens = 0;
    SequenceRequest ra = a, rb = b;
    c.wire(ra, 0);
    c.wire(rb, 1);
    auto b_text = rb.on_text;
    rb.on_text = [&, b_text](std::string_view p, int64_t n) {
      if (n == 1) {
        std::lock_guard lk(mu);
        a_tokens_at_b_first = a_tokens;
      }
      b_text(p, n);
    };
    auto a_text = ra.on_text;
    ra.on_text = [&, a_text](std::string_view p, int64_t n) {
      const int64_t steps = engine.stats().steps;
      {
        std::lock_guard lk(mu);
        a_steps.push_back(steps);
        a_tokens = n;
      }
      a_text(p, n);
      if (n == 3) {
        {
          std::lock_guard lk(mu);
          a_tokens_at_b_submit = n;
        }
        EXPECT_TRUE(engine.submit(rb));
      }
    };
    ASSERT_TRUE(engine.submit(ra));
    c.wait_all();
    expect_same(c.out[0], want_a, "A, " + what);
    expect_same(c.out[1], want_b, "B, " + what);
    // A's first token comes with its prefill, the k-th after k - 1 decode
    // steps: one token every step, B's prefill steps included.
    ASSERT_EQ(a_steps.size(), 40u) << what;
    for (size_t k = 0; k < a_steps.size(); ++k) EXPECT_EQ(a_steps[k], static_cast<int64_t>(k)) << what << " token " << k;
    // B is admitted at the step after A's third token; its prefill spans
    // ceil(100 / chunk) steps, the last of which samples its first token
    // before that step's decode; A's tokens of the steps before come first.
    const int64_t b_chunks = chunks_for(100, chunk);
    EXPECT_EQ(a_tokens_at_b_first - a_tokens_at_b_submit, b_chunks - 1) << what;
    EXPECT_EQ(engine.stats().prefill_chunks, 1 + b_chunks) << what;
  }
}

// A sequence cancelled between its chunks retires "cancelled" with no tokens,
// and the engine goes on serving.
TEST(EnginePrefill, CancelledWhilePrefilling) {
  auto tok = char_tokenizer();
  auto cfg = tiny_config(tok->vocab_size());
  cfg.block_size = 128;
  auto model = std::make_shared<models::GPT>(cfg, 6);
  models::GPT ref(cfg, 6);
  SequenceRequest a = greedy_request(*tok, "Tick", 30);
  SequenceRequest b = greedy_request(*tok, long_prompt(100), 5);
  a.stop_at_eot = false;
  b.cancelled = std::make_shared<std::atomic<bool>>(false);
  Collector c(2);
  Engine engine(model, tok, {.max_batch = 4, .threads = 1, .prefill_chunk = 4});
  SequenceRequest ra = a, rb = b;
  c.wire(ra, 0);
  c.wire(rb, 1);
  auto a_text = ra.on_text;
  auto flag = b.cancelled;
  ra.on_text = [&, a_text, flag](std::string_view p, int64_t n) {
    a_text(p, n);
    if (n == 2) EXPECT_TRUE(engine.submit(rb));
    if (n == 6) *flag = true;  // B has 4 of its 25 chunks by now
  };
  ASSERT_TRUE(engine.submit(ra));
  c.wait_all();
  EXPECT_EQ(c.out[1].result.finish_reason, "cancelled");
  EXPECT_EQ(c.out[1].result.completion_tokens, 0);
  EXPECT_EQ(c.out[1].done_calls, 1);
  EXPECT_LT(engine.stats().prefill_chunks, 1 + 25);
  expect_same(c.out[0], reference(ref, *tok, a), "A");
}
