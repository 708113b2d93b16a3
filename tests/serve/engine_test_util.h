// What the serving engine's tests share (serve/engine.h): the two models of
// tests/lm/test_generate.cpp (a random tiny GPT over a character tokenizer, a
// "scripted" GPT whose greedy next token depends only on the position), a
// callback collector, and the lm::generate reference a greedy sequence must
// equal.
#pragma once
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "models/gpt_test_util.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/lm/generate.h"
#include "tessera/serve/engine.h"
#include "tessera/text/char_tokenizer.h"

namespace tessera::serve::engine_test {

// Printable ASCII and newline, then <|endoftext|>.
inline std::shared_ptr<const text::CharTokenizer> char_tokenizer() {
  std::string corpus = "\n";
  for (char c = 32; c < 127; ++c) corpus += c;
  return std::make_shared<text::CharTokenizer>(text::CharTokenizer::from_corpus({corpus}, {"<|endoftext|>"}));
}

inline models::GPTConfig tiny_config(int64_t vocab, bool llama = false) {
  models::GPTConfig c;
  c.vocab_size = vocab;
  c.block_size = 64;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  if (llama) {
    test_util::make_llama_style(c);
  }
  return c;
}

// Greedy output after position p is script[p]: wpe[p] points at that token's
// embedding (tied to the output), the blocks add nothing.
inline std::shared_ptr<models::GPT> scripted_gpt(int64_t vocab, const std::vector<int32_t>& script) {
  models::GPTConfig c;
  c.vocab_size = vocab;
  c.block_size = 32;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_embd = 2 * ((vocab + 1) / 2);  // >= vocab: one direction per token
  auto m = std::make_shared<models::GPT>(c, 1);
  NoGradGuard g;
  for (auto& [name, p] : m->named_parameters()) p.zero_();
  m->parameter("transformer.ln_f.weight").fill_(1.0);
  Tensor wte = m->parameter("transformer.wte.weight");
  Tensor wpe = m->parameter("transformer.wpe.weight");
  for (int64_t i = 0; i < vocab; ++i) wte.select(0, i).select(0, i).fill_(1.0);
  for (size_t p = 0; p < script.size(); ++p) wpe.select(0, static_cast<int64_t>(p)).select(0, script[p]).fill_(10.0);
  return m;
}

// What one request saw through its callbacks.
struct Outcome {
  std::vector<std::string> pieces;
  std::vector<int64_t> counts;  // completion_tokens passed with each piece
  SequenceResult result;
  int done_calls = 0;
  std::string joined() const {
    std::string s;
    for (const auto& p : pieces) s += p;
    return s;
  }
};

// Collects outcomes; wait() returns when every submitted request is done.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Outcome> out;
  explicit Collector(size_t n) : out(n) {}

  void wire(SequenceRequest& r, size_t i) {
    r.on_text = [this, i](std::string_view piece, int64_t n) {
      std::lock_guard lk(mu);
      out[i].pieces.emplace_back(piece);
      out[i].counts.push_back(n);
    };
    r.on_done = [this, i](const SequenceResult& res) {
      std::lock_guard lk(mu);
      out[i].result = res;
      ++out[i].done_calls;
      cv.notify_all();
    };
  }
  void wait(const std::vector<size_t>& which) {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] {
      for (size_t i : which)
        if (out[i].done_calls == 0) return false;
      return true;
    });
  }
  void wait_all() {
    std::vector<size_t> all(out.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    wait(all);
  }
};

inline SequenceRequest greedy_request(const text::Tokenizer& tok, const std::string& prompt, int64_t max_tokens) {
  SequenceRequest r;
  r.prompt = tok.encode(prompt, true);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

// lm::generate on one prompt with the request's settings.
inline lm::Completion reference(models::GPT& m, const text::Tokenizer& tok, const SequenceRequest& r) {
  lm::GenerateOptions o{.max_new_tokens = r.max_tokens,
                        .temperature = r.sampling.temperature,
                        .top_k = r.sampling.top_k,
                        .top_p = r.sampling.top_p,
                        .repetition_penalty = r.sampling.repetition_penalty,
                        .seeds = {r.seed},
                        .stop = r.stop,
                        .stop_at_eot = r.stop_at_eot};
  EXPECT_EQ(r.stream_index, 0u) << "generate's seeds[i] stream is index 0";
  return lm::generate_ids(m, tok, {r.prompt}, o)[0];
}

inline void expect_same(const Outcome& got, const lm::Completion& want, const std::string& what) {
  EXPECT_EQ(got.done_calls, 1) << what;
  EXPECT_EQ(got.result.text, want.text) << what;
  EXPECT_EQ(got.result.finish_reason, want.finish_reason) << what;
  EXPECT_EQ(got.result.completion_tokens, want.completion_tokens) << what;
  EXPECT_EQ(got.result.prompt_tokens, want.prompt_tokens) << what;
  EXPECT_EQ(got.joined(), got.result.text) << what << ": the streamed pieces make the text";
  for (size_t k = 1; k < got.counts.size(); ++k) EXPECT_LE(got.counts[k - 1], got.counts[k]) << what;
}

}  // namespace tessera::serve::engine_test
