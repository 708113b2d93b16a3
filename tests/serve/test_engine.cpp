// The serving engine (serve/engine.h): continuous batching against
// lm::generate one prompt at a time, joining a running batch, no batching,
// stop strings and eot, max_tokens, the context's end, cancellation, a full
// queue, seeded sampling, shutdown with pending work, errors.
//
// Two models, as tests/lm/test_generate.cpp: a random tiny GPT over a
// character tokenizer (agreement with lm::generate), and a "scripted" GPT whose
// greedy next token depends only on the position (exact texts: stop strings,
// eot). The engine owns its model; the reference runs on a second instance
// built from the same (config, seed). Engines here compute on one thread: the
// models are tiny, and a second OpenMP team next to the test thread's only
// slows a loaded machine down (the kernels' threading is tested elsewhere).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tessera/autograd/grad_mode.h"
#include "tessera/lm/generate.h"
#include "tessera/serve/engine.h"
#include "serve/engine_test_util.h"
#include "tessera/text/char_tokenizer.h"

using namespace tessera;
using namespace tessera::serve;
using namespace tessera::serve::engine_test;

namespace {

void check_batched_greedy(bool llama) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size(), llama);
  auto model = std::make_shared<models::GPT>(cfg, 5);
  models::GPT ref(cfg, 5);
  const std::vector<std::string> prompts = {"Hello", "The quick brown fox jumps", "a", "Once upon a time, there",
                                            "xyz"};
  const std::vector<int64_t> max_tokens = {20, 25, 30, 12, 1};
  std::vector<SequenceRequest> reqs;
  for (size_t i = 0; i < prompts.size(); ++i) reqs.push_back(greedy_request(*tok, prompts[i], max_tokens[i]));
  Collector c(reqs.size());
  {
    Engine engine(model, tok, {.max_batch = 8, .threads = 1});
    for (size_t i = 0; i < reqs.size(); ++i) {
      SequenceRequest r = reqs[i];
      c.wire(r, i);
      ASSERT_TRUE(engine.submit(std::move(r)));
    }
    c.wait_all();
    EngineStats st = engine.stats();
    int64_t generated = 0, prompt = 0;
    for (const auto& o : c.out) generated += o.result.completion_tokens, prompt += o.result.prompt_tokens;
    EXPECT_EQ(st.tokens_generated, generated);
    EXPECT_EQ(st.prompt_tokens, prompt);
    EXPECT_EQ(st.sequences_finished, 5);
    EXPECT_EQ(st.running, 0);
    EXPECT_EQ(st.waiting, 0);
    // The longest sequence needs 29 decode steps after its prefill; batching
    // shares them (one-by-one would take the sum, 83).
    EXPECT_GE(st.steps, 29);
    EXPECT_LT(st.steps, 83);
    EXPECT_GT(st.busy_seconds, 0.0);
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    expect_same(c.out[i], reference(ref, *tok, reqs[i]), "prompt '" + prompts[i] + "'");
    EXPECT_EQ(c.out[i].result.finish_reason, "length");
    EXPECT_EQ(c.out[i].result.completion_tokens, max_tokens[i]);
    EXPECT_GE(c.out[i].result.total_seconds, c.out[i].result.first_token_seconds);
    EXPECT_GE(c.out[i].result.first_token_seconds, c.out[i].result.queue_seconds);
  }
}

}  // namespace

TEST(Engine, BatchedGreedyEqualsGenerate) { check_batched_greedy(false); }
TEST(Engine, BatchedGreedyEqualsGenerateLlama) { check_batched_greedy(true); }

TEST(Engine, RequestJoinsTheRunningBatch) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto model = std::make_shared<models::GPT>(cfg, 3);
  models::GPT ref(cfg, 3);
  SequenceRequest a = greedy_request(*tok, "First request", 40);
  SequenceRequest b = greedy_request(*tok, "Second", 6);
  Collector c(2);
  std::atomic<bool> a_done{false}, a_done_at_b_first{true};
  std::atomic<int64_t> running_seen{0};
  Engine engine(model, tok, {.max_batch = 4, .threads = 1});
  SequenceRequest ra = a, rb = b;
  c.wire(ra, 0);
  c.wire(rb, 1);
  auto b_text = rb.on_text;
  rb.on_text = [&, b_text](std::string_view p, int64_t n) {
    if (n == 1) a_done_at_b_first = a_done.load();
    running_seen = std::max(running_seen.load(), engine.stats().running);
    b_text(p, n);
  };
  auto a_text = ra.on_text;
  auto a_done_cb = ra.on_done;
  // A submits B from its third token on: B arrives while A decodes.
  ra.on_text = [&, a_text](std::string_view p, int64_t n) {
    a_text(p, n);
    if (n == 3) {
      EXPECT_TRUE(engine.submit(rb));
    }
  };
  ra.on_done = [&, a_done_cb](const SequenceResult& r) {
    a_done = true;
    a_done_cb(r);
  };
  ASSERT_TRUE(engine.submit(ra));
  c.wait_all();
  EXPECT_FALSE(a_done_at_b_first) << "B's first token must come while A still runs";
  EXPECT_EQ(running_seen.load(), 2) << "B must run in A's batch";
  expect_same(c.out[0], reference(ref, *tok, a), "A");
  expect_same(c.out[1], reference(ref, *tok, b), "B");
}

TEST(Engine, MaxBatchOneRunsSequencesInTurn) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto model = std::make_shared<models::GPT>(cfg, 8);
  models::GPT ref(cfg, 8);
  const std::vector<std::string> prompts = {"One", "Two two", "Three three three"};
  std::vector<SequenceRequest> reqs;
  for (const auto& p : prompts) reqs.push_back(greedy_request(*tok, p, 15));
  Collector c(reqs.size());
  std::mutex order_mu;
  std::vector<std::string> events;  // "text i" / "done i", in engine order
  std::atomic<int64_t> most_running{0};
  Engine engine(model, tok, {.max_batch = 1, .threads = 1});
  for (size_t i = 0; i < reqs.size(); ++i) {
    SequenceRequest r = reqs[i];
    c.wire(r, i);
    auto on_text = r.on_text;
    auto on_done = r.on_done;
    r.on_text = [&, i, on_text](std::string_view p, int64_t n) {
      most_running = std::max(most_running.load(), engine.stats().running);
      {
        std::lock_guard lk(order_mu);
        if (events.empty() || events.back() != "text " + std::to_string(i)) events.push_back("text " + std::to_string(i));
      }
      on_text(p, n);
    };
    r.on_done = [&, i, on_done](const SequenceResult& res) {
      {
        std::lock_guard lk(order_mu);
        events.push_back("done " + std::to_string(i));
      }
      on_done(res);
    };
    ASSERT_TRUE(engine.submit(std::move(r)));
  }
  c.wait_all();
  EXPECT_EQ(most_running.load(), 1);
  EXPECT_EQ(events, (std::vector<std::string>{"text 0", "done 0", "text 1", "done 1", "text 2", "done 2"}));
  for (size_t i = 0; i < reqs.size(); ++i) expect_same(c.out[i], reference(ref, *tok, reqs[i]), prompts[i]);
}

TEST(Engine, StopStringsAndEot) {
  auto tok = char_tokenizer();
  const int32_t eot = *tok->eot_id();
  const std::string prompt = "Hi";
  std::vector<int32_t> script(prompt.size() - 1, 0);  // positions before the prompt's last
  for (int32_t id : tok->encode("Hello, world!", false)) script.push_back(id);
  script.push_back(eot);
  auto model = scripted_gpt(tok->vocab_size(), script);
  auto ref = scripted_gpt(tok->vocab_size(), script);

  std::vector<SequenceRequest> reqs(4, greedy_request(*tok, prompt, 20));
  reqs[0].stop = {"wor"};                     // across tokens: "w", "o", "r"
  reqs[1].stop = {"xx", "o, w", "world"};     // the earliest match wins
  reqs[2].stop = {};                          // runs into eot
  reqs[3].stop = {"!"};
  Collector c(reqs.size());
  {
    Engine engine(model, tok, {.threads = 1});
    for (size_t i = 0; i < reqs.size(); ++i) {
      SequenceRequest r = reqs[i];
      c.wire(r, i);
      ASSERT_TRUE(engine.submit(std::move(r)));
    }
    c.wait_all();
  }
  const std::vector<std::string> texts = {"Hello, ", "Hell", "Hello, world!", "Hello, world"};
  const std::vector<int64_t> counts = {10, 8, 14, 13};  // every sampled id, the stop string's and eot included
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(c.out[i].result.text, texts[i]) << i;
    EXPECT_EQ(c.out[i].result.finish_reason, "stop") << i;
    EXPECT_EQ(c.out[i].result.completion_tokens, counts[i]) << i;
    expect_same(c.out[i], reference(*ref, *tok, reqs[i]), "request " + std::to_string(i));
  }
  // Held back while it could still become "wor": the "w" comes only at the end.
  for (const auto& p : c.out[0].pieces) EXPECT_EQ(p.find('w'), std::string::npos) << p;
}

TEST(Engine, MaxTokensAndContextEndGiveLength) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto model = std::make_shared<models::GPT>(cfg, 4);
  std::vector<SequenceRequest> reqs(3, greedy_request(*tok, "Count", 7));
  for (auto& r : reqs) r.stop_at_eot = false;  // only max_tokens or the context end them
  reqs[1].max_tokens = 0;
  reqs[2].prompt = std::vector<int32_t>(60, tok->encode("e", false)[0]);  // 60 of block 64
  reqs[2].max_tokens = 10;                                                 // more than fits
  Collector c(reqs.size());
  {
    Engine engine(model, tok, {.threads = 1});
    for (size_t i = 0; i < reqs.size(); ++i) {
      c.wire(reqs[i], i);
      ASSERT_TRUE(engine.submit(reqs[i]));
    }
    c.wait_all();
  }
  EXPECT_EQ(c.out[0].result.finish_reason, "length");
  EXPECT_EQ(c.out[0].result.completion_tokens, 7);
  EXPECT_EQ(c.out[0].result.text, c.out[0].joined());
  EXPECT_EQ(c.out[1].result.finish_reason, "length");
  EXPECT_EQ(c.out[1].result.completion_tokens, 0);
  EXPECT_EQ(c.out[1].result.text, "");
  EXPECT_EQ(c.out[1].pieces.size(), 0u);
  // Positions 60..63 are fed: the prefill's token and four decode steps' give 5.
  EXPECT_EQ(c.out[2].result.finish_reason, "length");
  EXPECT_EQ(c.out[2].result.completion_tokens, 5);
  EXPECT_EQ(c.out[2].result.prompt_tokens, 60);
}

TEST(Engine, CancelRetiresWithTheTokensDelivered) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto model = std::make_shared<models::GPT>(cfg, 6);
  models::GPT ref(cfg, 6);
  SequenceRequest a = greedy_request(*tok, "Cancel me", 40);
  a.stop_at_eot = false;
  a.cancelled = std::make_shared<std::atomic<bool>>(false);
  SequenceRequest before = greedy_request(*tok, "Never runs", 10);
  before.cancelled = std::make_shared<std::atomic<bool>>(true);  // the client left while it waited
  Collector c(2);
  c.wire(a, 0);
  c.wire(before, 1);
  auto a_text = a.on_text;
  auto flag = a.cancelled;
  a.on_text = [a_text, flag](std::string_view p, int64_t n) {
    a_text(p, n);
    if (n == 4) flag->store(true);
  };
  {
    Engine engine(model, tok, {.threads = 1});
    ASSERT_TRUE(engine.submit(a));
    ASSERT_TRUE(engine.submit(before));
    c.wait_all();
  }
  const Outcome& o = c.out[0];
  EXPECT_EQ(o.result.finish_reason, "cancelled");
  EXPECT_EQ(o.result.completion_tokens, 4);
  EXPECT_EQ(o.counts.back(), 4);
  EXPECT_EQ(o.result.text, o.joined());
  auto full = reference(ref, *tok, a);
  EXPECT_EQ(o.result.text, full.text.substr(0, 4)) << "one character per token, nothing held back";
  EXPECT_EQ(c.out[1].result.finish_reason, "cancelled");
  EXPECT_EQ(c.out[1].result.completion_tokens, 0);
  EXPECT_TRUE(c.out[1].pieces.empty());
  EXPECT_EQ(c.out[1].done_calls, 1);
}

namespace {
// Holds the engine thread inside the first on_text until released: the test
// then knows exactly what runs and what waits.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
  void block_here() {
    std::unique_lock lk(mu);
    if (entered) return;
    entered = true;
    cv.notify_all();
    cv.wait(lk, [&] { return open; });
  }
  void wait_entered() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return entered; });
  }
  void release() {
    std::lock_guard lk(mu);
    open = true;
    cv.notify_all();
  }
};
}  // namespace

TEST(Engine, FullQueueRefuses) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto model = std::make_shared<models::GPT>(cfg, 2);
  Gate gate;
  Collector c(4);
  std::vector<SequenceRequest> reqs(4, greedy_request(*tok, "Queue", 5));
  for (size_t i = 0; i < reqs.size(); ++i) c.wire(reqs[i], i);
  auto a_text = reqs[0].on_text;
  reqs[0].on_text = [&, a_text](std::string_view p, int64_t n) {
    a_text(p, n);
    gate.block_here();
  };
  Engine engine(model, tok, {.max_batch = 1, .max_queue = 2, .threads = 1});
  ASSERT_TRUE(engine.submit(reqs[0]));
  gate.wait_entered();  // A runs (the only slot), the queue is empty
  EXPECT_TRUE(engine.submit(reqs[1]));
  EXPECT_TRUE(engine.submit(reqs[2]));
  EXPECT_FALSE(engine.submit(reqs[3])) << "a third waiting request exceeds max_queue 2";
  EXPECT_EQ(engine.stats().waiting, 2);
  EXPECT_EQ(engine.stats().running, 1);
  gate.release();
  c.wait({0, 1, 2});
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(c.out[i].result.finish_reason, "length") << i;
  EXPECT_EQ(c.out[3].done_calls, 0) << "a refused request gets no callback";
  EXPECT_TRUE(engine.submit(reqs[3])) << "room again once the queue drained";
  c.wait({3});
  EXPECT_EQ(c.out[3].result.completion_tokens, 5);
}

TEST(Engine, SeededSamplingReproduces) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto run = [&](const std::vector<SequenceRequest>& reqs) {
    auto model = std::make_shared<models::GPT>(cfg, 9);
    Collector c(reqs.size());
    Engine engine(model, tok, {.threads = 1});
    for (size_t i = 0; i < reqs.size(); ++i) {
      SequenceRequest r = reqs[i];
      c.wire(r, i);
      EXPECT_TRUE(engine.submit(std::move(r)));
    }
    c.wait_all();
    std::vector<SequenceResult> out;
    for (auto& o : c.out) out.push_back(o.result);
    return out;
  };
  SequenceRequest r = greedy_request(*tok, "Sample", 24);
  r.sampling = {.temperature = 1.0, .top_k = 50, .repetition_penalty = 1.3};
  r.seed = 42;
  r.stop_at_eot = false;
  std::vector<SequenceRequest> batch = {r, r, r};
  batch[1].stream_index = 1;          // n = 2: the second choice
  batch[2].prompt.push_back(tok->encode("!", false)[0]);
  auto first = run(batch), second = run(batch);
  for (size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(first[i].text, second[i].text) << i;
  EXPECT_NE(first[0].text, first[1].text) << "another stream index draws other numbers";
  // Alone, the request reproduces lm::generate with its seed.
  auto alone = run({r});
  models::GPT ref(cfg, 9);
  EXPECT_EQ(alone[0].text, reference(ref, *tok, r).text);
  EXPECT_EQ(alone[0].completion_tokens, 24);
}

TEST(Engine, DestructorFinishesPendingWork) {
  auto tok = char_tokenizer();
  auto model = std::make_shared<models::GPT>(tiny_config(tok->vocab_size()), 1);
  Gate gate;
  Collector c(3);
  std::vector<SequenceRequest> reqs(3, greedy_request(*tok, "Pending", 40));
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].stop_at_eot = false;
    c.wire(reqs[i], i);
  }
  auto a_text = reqs[0].on_text;
  reqs[0].on_text = [&, a_text](std::string_view p, int64_t n) {
    a_text(p, n);
    gate.block_here();
  };
  std::thread opener;
  {
    Engine engine(model, tok, {.max_batch = 1, .threads = 1});
    for (auto& r : reqs) ASSERT_TRUE(engine.submit(r));
    gate.wait_entered();
    // The destructor must not wait for A's 40 tokens: it stops at the next step.
    opener = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      gate.release();
    });
  }
  opener.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(c.out[i].done_calls, 1) << i;
    EXPECT_EQ(c.out[i].result.finish_reason, "cancelled") << i;
  }
  // A stopped at the step after the gate opened, long before its 40 tokens.
  EXPECT_LT(c.out[0].result.completion_tokens, 40);
  EXPECT_EQ(c.out[0].result.completion_tokens, c.out[0].counts.back());
  EXPECT_EQ(c.out[1].result.completion_tokens, 0);
  EXPECT_EQ(c.out[2].result.completion_tokens, 0);
}

TEST(Engine, ModelErrorsRetireOnlyTheirSequence) {
  auto tok = char_tokenizer();
  const auto cfg = tiny_config(tok->vocab_size());
  auto model = std::make_shared<models::GPT>(cfg, 12);
  models::GPT ref(cfg, 12);
  std::vector<SequenceRequest> reqs(4, greedy_request(*tok, "Fine", 8));
  reqs[1].prompt = {3, 500, 4};       // an id outside the model's 97
  reqs[2].prompt.clear();             // nothing to prefill
  reqs[3].stop = {""};                // a stop string that would match everywhere
  Collector c(reqs.size());
  {
    Engine engine(model, tok, {.threads = 1});
    for (size_t i = 0; i < reqs.size(); ++i) {
      c.wire(reqs[i], i);
      ASSERT_TRUE(engine.submit(reqs[i]));
    }
    c.wait_all();
    // Still serving.
    Collector again(1);
    SequenceRequest r = reqs[0];
    again.wire(r, 0);
    ASSERT_TRUE(engine.submit(r));
    again.wait_all();
    EXPECT_EQ(again.out[0].result.text, c.out[0].result.text);
  }
  expect_same(c.out[0], reference(ref, *tok, reqs[0]), "the good request");
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(c.out[i].result.finish_reason, "error") << i;
    EXPECT_EQ(c.out[i].result.completion_tokens, 0) << i;
    EXPECT_EQ(c.out[i].done_calls, 1) << i;
  }
  EXPECT_NE(c.out[1].result.error.find("500"), std::string::npos) << c.out[1].result.error;
  EXPECT_NE(c.out[2].result.error.find("empty"), std::string::npos) << c.out[2].result.error;
  EXPECT_NE(c.out[3].result.error.find("stop string"), std::string::npos) << c.out[3].result.error;
}

TEST(Engine, MeasureTokensPerSecond) {
  auto tok = char_tokenizer();
  auto model = std::make_shared<models::GPT>(tiny_config(tok->vocab_size()), 1);
  EXPECT_GT(measure_tokens_per_second(model, tok, 4, 8, 6, {.max_batch = 4, .threads = 1}), 0.0);
  EXPECT_GT(measure_tokens_per_second(model, tok, 3, 8, 6, {.max_batch = 1, .threads = 1}), 0.0);
  EXPECT_GT(measure_tokens_per_second(model, tok, 3, 20, 6, {.max_batch = 4, .threads = 1, .prefill_chunk = 7}), 0.0);
  EXPECT_THROW(measure_tokens_per_second(model, tok, 1, 60, 10, {.max_batch = 1}), Error);  // past block_size 64
  EXPECT_THROW(measure_tokens_per_second(model, tok, 1, 8, 6, {.max_batch = 0}), Error);
  EXPECT_THROW(Engine(model, tok, {.max_batch = 0}), Error);
  EXPECT_THROW(Engine(model, tok, {.prefill_chunk = -1}), Error);
}
