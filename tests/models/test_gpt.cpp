// GPT (models/gpt.h): config JSON, parameter names and init, causality, the
// KV cache against full recomputation, and a from-primitives reference
// forward for the LLaMA-style options (rope, RMSNorm, SwiGLU, no bias).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "models/gpt_test_util.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/models/gpt.h"
#include "tessera/tessera.h"
#include "tessera/ops/rope.h"
#include "test_util.h"

namespace tessera::models {
namespace {

using test_util::expect_error;
using test_util::max_abs_diff;

GPTConfig tiny(bool llama = false) {
  GPTConfig c;
  c.vocab_size = 61;
  c.block_size = 24;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_embd = 32;
  if (llama) {
    test_util::make_llama_style(c);
    c.norm_eps = 1e-6;
  }
  return c;
}

Tensor ids(const std::vector<int64_t>& v, int64_t B) { return from_vector(v, {B, static_cast<int64_t>(v.size()) / B}); }

TEST(GPTConfig, JsonRoundTripAndErrors) {
  GPTConfig c = tiny(true);
  c.dropout = 0.125;
  c.mlp_hidden = 96;
  c.rope_theta = 500000.0;
  c.tie_embeddings = false;
  EXPECT_EQ(GPTConfig::from_json(c.to_json()), c);
  EXPECT_EQ(GPTConfig::from_json("{}"), GPTConfig());
  EXPECT_EQ(GPTConfig::from_json(R"({"n_layer": 3})").n_layer, 3);
  expect_error<Error>([] { GPTConfig::from_json(R"({"n_embed": 64})"); }, {"unknown key", "n_embed", "n_embd"});
  expect_error<Error>([] { GPTConfig::from_json(R"({"n_layer": "2"})"); }, {"n_layer", "integer"});
  expect_error<Error>([] { GPTConfig::from_json(R"({"norm": "batchnorm"})"); }, {"norm", "batchnorm", "rmsnorm"});
  expect_error<Error>([] { GPTConfig::from_json(R"({"n_embd": 50, "n_head": 4})"); }, {"n_embd (50)", "n_head (4)"});
  expect_error<Error>([] { GPTConfig::from_json("[1]"); }, "object");
  expect_error<Error>([] { GPTConfig::from_json("{"); }, "invalid JSON");
  GPTConfig s;
  s.n_embd = 128;
  s.mlp = "swiglu";
  EXPECT_EQ(s.hidden_dim(), 384);  // 8 * 128 / 3 = 341.3 -> 384
  s.mlp = "gelu";
  EXPECT_EQ(s.hidden_dim(), 512);
}

TEST(GPT, ParameterNamesAreHuggingFaces) {
  GPT m(tiny());
  std::set<std::string> names;
  for (auto& [n, t] : m.state_dict()) names.insert(n);
  std::set<std::string> want = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
                                "transformer.ln_f.bias"};
  for (int l = 0; l < 2; ++l) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    for (const char* s : {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                          "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                          "mlp.c_proj.weight", "mlp.c_proj.bias"})
      want.insert(p + s);
  }
  EXPECT_EQ(names, want);
  EXPECT_EQ(m.state_dict().at("transformer.h.1.attn.c_attn.weight").shape(), Shape({96, 32}));  // (out, in)

  GPTConfig lc = tiny(true);
  lc.tie_embeddings = false;
  GPT l(lc);
  std::set<std::string> lnames;
  for (auto& [n, t] : l.state_dict()) lnames.insert(n);
  EXPECT_TRUE(lnames.count("lm_head.weight"));
  EXPECT_TRUE(lnames.count("transformer.h.0.mlp.c_gate.weight"));
  EXPECT_FALSE(lnames.count("transformer.wpe.weight"));
  EXPECT_FALSE(lnames.count("transformer.h.0.attn.c_attn.bias"));
  EXPECT_FALSE(lnames.count("transformer.ln_f.bias"));
  EXPECT_EQ(l.state_dict().at("transformer.h.0.mlp.c_gate.weight").shape(), Shape({128, 32}));  // 2/3*128 -> 128
}

TEST(GPT, NanoGPTInitAndCounts) {
  GPTConfig c = tiny();
  c.n_embd = 64;
  c.n_layer = 3;
  GPT a(c, 5), b(c, 5), d(c, 6);
  auto sa = a.state_dict(), sb = b.state_dict(), sd = d.state_dict();
  for (auto& [n, t] : sa) EXPECT_EQ(max_abs_diff(t, sb.at(n)), 0.0) << n;
  EXPECT_GT(max_abs_diff(sa.at("transformer.wte.weight"), sd.at("transformer.wte.weight")), 0.0);
  auto std_of = [](const Tensor& t) {
    double s = 0, s2 = 0;
    auto v = t.to_vector<double>();
    for (double x : v) s += x, s2 += x * x;
    return std::sqrt(s2 / v.size() - (s / v.size()) * (s / v.size()));
  };
  EXPECT_NEAR(std_of(sa.at("transformer.h.0.attn.c_attn.weight")), 0.02, 0.001);
  EXPECT_NEAR(std_of(sa.at("transformer.wte.weight")), 0.02, 0.001);
  EXPECT_NEAR(std_of(sa.at("transformer.h.2.mlp.c_proj.weight")), 0.02 / std::sqrt(6.0), 0.0006);
  EXPECT_NEAR(std_of(sa.at("transformer.h.2.attn.c_proj.weight")), 0.02 / std::sqrt(6.0), 0.0006);
  EXPECT_EQ(max_abs_diff(sa.at("transformer.h.1.attn.c_attn.bias"), zeros({192})), 0.0);
  EXPECT_EQ(max_abs_diff(sa.at("transformer.h.1.ln_1.weight"), ones({64})), 0.0);
  // nanoGPT's count: tied matrix once; non-embedding drops wpe only.
  const int64_t C = 64, V = 61, L = 3, P = 24;
  const int64_t per_block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C);
  const int64_t total = V * C + P * C + L * per_block + 2 * C;
  EXPECT_EQ(a.count_parameters(false), total);
  EXPECT_EQ(a.count_parameters(true), total - P * C);
  EXPECT_DOUBLE_EQ(a.flops_per_token(16), 6.0 * (total - P * C) + 12.0 * L * C * 16);
}

TEST(GPT, OutputsAreCausal) {
  for (bool llama : {false, true}) {
    GPT m(tiny(llama), 3);
    m.eval();
    Tensor a = ids({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1);
    Tensor b = ids({1, 2, 3, 4, 5, 60, 59, 58, 57, 56}, 1);
    Tensor la = m.forward(a), lb = m.forward(b);
    ASSERT_EQ(la.shape(), Shape({1, 10, 61}));
    EXPECT_LT(max_abs_diff(la.narrow(1, 0, 5), lb.narrow(1, 0, 5)), 1e-6);
    EXPECT_GT(max_abs_diff(la.narrow(1, 5, 1), lb.narrow(1, 5, 1)), 1e-4);
  }
}

TEST(GPT, ForwardErrors) {
  GPT m(tiny());
  expect_error<ShapeError>([&] { m.forward(zeros({1, 25}, {.dtype = DType::I64})); }, {"25", "block_size 24"});
  expect_error<ShapeError>([&] { m.forward(zeros({1, 5})); }, "int64");
  expect_error<IndexError>([&] { m.forward(ids({1, 61}, 1)); }, "61");
  KVCache cache = m.make_cache(2, 8);
  expect_error<ShapeError>([&] { m.forward(zeros({2, 9}, {.dtype = DType::I64}), cache); }, {"0 of 8", "9 more"});
  expect_error<ShapeError>([&] { m.forward(zeros({1, 2}, {.dtype = DType::I64}), cache); }, "batch 2");
  expect_error<ShapeError>([&] { m.make_cache(1, 25); }, "block_size (24)");
}

// Greedy decoding with the cache equals recomputing the whole prefix at every
// step, in tokens and (within 1e-5) in logits; the prompt goes in as one
// chunk, or two chunks (the second one attends to the first through the
// bottom-right causal mask).
void check_cached_decoding(bool llama) {
  GPTConfig c = tiny(llama);
  c.dropout = 0.1;  // eval() must switch it off in both paths
  c.block_size = 18;
  GPT m(c, 11);
  m.eval();
  const std::vector<std::vector<int64_t>> prompts = {{7}, {1, 2, 3}, {5, 9, 33, 2, 2, 40, 17}, {60, 0, 12, 12}};
  double worst = 0;
  for (size_t pi = 0; pi < prompts.size(); ++pi) {
    const auto& prompt = prompts[pi];
    const int64_t P = static_cast<int64_t>(prompt.size());
    std::vector<int64_t> full = prompt, cached = prompt;
    KVCache cache = m.make_cache(1, c.block_size);
    Tensor last;
    if (pi % 2 == 1 && P > 1) {  // two chunks
      const int64_t h = P / 2;
      m.forward(ids(std::vector<int64_t>(prompt.begin(), prompt.begin() + h), 1), cache);
      last = m.forward(ids(std::vector<int64_t>(prompt.begin() + h, prompt.end()), 1), cache);
    } else {
      last = m.forward(ids(prompt, 1), cache);
    }
    EXPECT_EQ(cache.length, P);
    for (int64_t step = 0; P + step < c.block_size; ++step) {
      Tensor ref;
      {
        NoGradGuard ng;
        ref = m.forward(ids(full, 1));
      }
      Tensor ref_last = ref.select(1, -1), got_last = last.select(1, -1);  // (1, V)
      worst = std::max(worst, max_abs_diff(ref_last, got_last));
      if (step == 0) {  // every prompt position, not just the last
        Tensor got_all = last;
        EXPECT_LT(max_abs_diff(ref.narrow(1, P - last.size(1), last.size(1)), got_all), 1e-5);
      }
      auto argmax = [](const Tensor& row) {
        auto v = row.to_vector<float>();
        return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
      };
      full.push_back(argmax(ref_last));
      cached.push_back(argmax(got_last));
      ASSERT_EQ(full, cached) << "prompt " << pi << " diverged at step " << step;
      if (P + step + 1 < c.block_size) last = m.forward(ids({cached.back()}, 1), cache);
    }
    EXPECT_EQ(cache.length, c.block_size - 1);
  }
  EXPECT_LT(worst, 1e-5);
}

TEST(GPT, CachedGreedyDecodingMatchesRecomputation) { check_cached_decoding(false); }
TEST(GPT, CachedGreedyDecodingMatchesRecomputationLlama) { check_cached_decoding(true); }

TEST(GPT, CachedBatchMatchesFull) {
  GPT m(tiny(true), 2);
  m.eval();
  Tensor x = ids({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3}, 2);  // (2, 8)
  NoGradGuard ng;
  Tensor ref = m.forward(x);
  KVCache cache = m.make_cache(2, 10);
  Tensor a = m.forward(x.narrow(1, 0, 3).contiguous(), cache);
  Tensor b = m.forward(x.narrow(1, 3, 1).contiguous(), cache);
  Tensor d = m.forward(x.narrow(1, 4, 4).contiguous(), cache);
  EXPECT_LT(max_abs_diff(cat({a, b, d}, 1), ref), 1e-5);
  cache.reset();
  EXPECT_LT(max_abs_diff(m.forward(x, cache), ref), 1e-5);
  cache.reset();
  Tensor last = m.forward(x, cache, /*last_only=*/true);
  ASSERT_EQ(last.shape(), Shape({2, 1, 61}));
  EXPECT_LT(max_abs_diff(last, ref.narrow(1, 7, 1)), 1e-5);
  EXPECT_EQ(cache.length, 8);
}

// ---- reference forward from primitive ops, for the LLaMA-style options ----

Tensor ref_rms(const Tensor& x, const Tensor& w, double eps) {
  return mul(mul(x, rsqrt(add(mean(mul(x, x), {-1}, true), eps))), w);
}

Tensor ref_rope(const Tensor& x, int64_t D, double theta) {  // x (B, H, T, D)
  const int64_t T = x.size(2), h = D / 2;
  std::vector<double> c(T * D), s(T * D);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < h; ++i) {
      const double a = t * std::pow(theta, -2.0 * i / D);
      c[t * D + i] = c[t * D + i + h] = std::cos(a);
      s[t * D + i] = s[t * D + i + h] = std::sin(a);
    }
  Tensor ct = from_vector(c, {T, D}, {.dtype = DType::F32}), st = from_vector(s, {T, D}, {.dtype = DType::F32});
  Tensor rot = cat({neg(x.narrow(-1, h, h)), x.narrow(-1, 0, h)}, -1);
  return add(mul(x, ct), mul(rot, st));
}

TEST(GPT, LlamaVariantMatchesPrimitiveReference) {
  GPTConfig c = tiny(true);
  c.n_layer = 1;
  GPT m(c, 4);
  m.eval();
  auto P = m.state_dict();
  Tensor x = ids({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, 2);  // (2, 6)
  const int64_t B = 2, T = 6, C = 32, H = 4, D = 8;
  Tensor h = embedding(P.at("transformer.wte.weight"), x);
  const std::string p = "transformer.h.0.";
  Tensor a = ref_rms(h, P.at(p + "ln_1.weight"), c.norm_eps);
  Tensor qkv = matmul(a, P.at(p + "attn.c_attn.weight").t());
  auto heads = [&](int64_t i) { return qkv.narrow(-1, i * C, C).reshape({B, T, H, D}).permute({0, 2, 1, 3}); };
  Tensor q = ref_rope(heads(0), D, c.rope_theta), k = ref_rope(heads(1), D, c.rope_theta), v = heads(2);
  Tensor scores = mul(matmul(q, k.transpose(-1, -2)), 1.0 / std::sqrt(static_cast<double>(D)));
  std::vector<float> mask(T * T);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) mask[i * T + j] = j > i ? -1e30f : 0.f;
  Tensor att = softmax(add(scores, from_vector(mask, {T, T})), -1);
  Tensor y = matmul(att, v).permute({0, 2, 1, 3}).reshape({B, T, C});
  h = add(h, matmul(y, P.at(p + "attn.c_proj.weight").t()));
  Tensor b = ref_rms(h, P.at(p + "ln_2.weight"), c.norm_eps);
  Tensor up = matmul(b, P.at(p + "mlp.c_fc.weight").t()), gate = matmul(b, P.at(p + "mlp.c_gate.weight").t());
  Tensor g = mul(gate, sigmoid(gate));
  h = add(h, matmul(mul(g, up), P.at(p + "mlp.c_proj.weight").t()));
  Tensor ref = matmul(ref_rms(h, P.at("transformer.ln_f.weight"), c.norm_eps), P.at("transformer.wte.weight").t());
  EXPECT_LT(max_abs_diff(m.forward(x), ref), 2e-5);
}

TEST(GPT, TrainingGradientsReachEveryParameterAndDropoutIsSeeded) {
  GPTConfig c = tiny(true);
  c.dropout = 0.2;
  c.tie_embeddings = false;
  GPT m(c, 9), m2(c, 9);
  Tensor x = ids({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, 2);
  Tensor l1 = m.forward(x), l2 = m2.forward(x);
  EXPECT_EQ(max_abs_diff(l1, l2), 0.0);  // same seed, same dropout masks
  m.eval();
  EXPECT_GT(max_abs_diff(m.forward(x), l1), 1e-4);  // dropout was active in training
  Tensor loss = cross_entropy(l1.reshape({-1, c.vocab_size}), x.reshape({-1}));
  loss.backward();
  for (auto& [n, t] : m.named_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << n;
    EXPECT_GT(max_abs_diff(t.grad(), zeros_like(t)), 0.0) << n;
  }
}

TEST(Rope, TablesAndInverse) {
  auto [c, s] = rotary_tables(3, 4, 8, 10000.0);
  ASSERT_EQ(c.shape(), Shape({4, 4}));
  auto cv = c.to_vector<double>(), sv = s.to_vector<double>();
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 4; ++i) {
      const double a = (3 + t) * std::pow(10000.0, -2.0 * i / 8);
      EXPECT_NEAR(cv[t * 4 + i], std::cos(a), 2e-6);
      EXPECT_NEAR(sv[t * 4 + i], std::sin(a), 2e-6);
    }
  Generator gen(1);
  Tensor x = randn({2, 3, 4, 8}, gen);
  Tensor y = rotary_embedding(x, c, s);
  Tensor back = rotary_embedding(y, c, neg(s));  // rotation by -angle undoes it
  EXPECT_LT(max_abs_diff(back, x), 1e-5);
  expect_error<ShapeError>([&] { rotary_embedding(randn({2, 4, 7}, gen), c, s); }, "even");
  expect_error<ShapeError>([&] { rotary_embedding(randn({2, 5, 8}, gen), c, s); }, "(T, D/2)");
}

}  // namespace
}  // namespace tessera::models

// ---- batched decoding of independent sequences (GPT::decode_step) ----

namespace tessera::models {
namespace {

// Sequences at different lengths: decode_step's (B, vocab) logits equal each
// sequence's own forward(idx, cache), step after step.
void check_decode_step(const GPTConfig& c, const std::vector<std::vector<int64_t>>& prompts) {
  GPT m(c, 21);
  m.eval();
  const size_t B = prompts.size();
  std::vector<KVCache> batched, alone;
  std::vector<int32_t> next;
  for (const auto& p : prompts) {
    batched.push_back(m.make_cache(1, c.block_size));
    alone.push_back(m.make_cache(1, static_cast<int64_t>(p.size()) + 6));
    Tensor a = m.forward(ids(p, 1), batched.back(), true);
    m.forward(ids(p, 1), alone.back(), true);
    auto row = a.to_vector<float>();
    next.push_back(static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin()));
  }
  std::vector<KVCache*> ptrs;
  for (auto& kv : batched) ptrs.push_back(&kv);
  double worst = 0;
  for (int step = 0; step < 5; ++step) {
    Tensor got = m.decode_step(next, ptrs);
    ASSERT_EQ(got.shape(), Shape({static_cast<int64_t>(B), c.vocab_size}));
    for (size_t b = 0; b < B; ++b) {
      EXPECT_EQ(batched[b].length, static_cast<int64_t>(prompts[b].size()) + step + 1);
      Tensor want = m.forward(ids({next[b]}, 1), alone[b]).reshape({c.vocab_size});
      worst = std::max(worst, max_abs_diff(got.select(0, static_cast<int64_t>(b)), want));
      auto row = want.to_vector<float>();
      next[b] = static_cast<int32_t>((std::max_element(row.begin(), row.end()) - row.begin() + 7 * b) % c.vocab_size);
    }
  }
  EXPECT_LT(worst, 1e-5);
  // One sequence alone gives the same as in the batch.
  Tensor one = m.decode_step({next[1]}, {&batched[1]});
  EXPECT_LT(max_abs_diff(one.reshape({c.vocab_size}), m.forward(ids({next[1]}, 1), alone[1]).reshape({c.vocab_size})), 1e-5);
}

const std::vector<std::vector<int64_t>> kShortPrompts = {{4}, {1, 2, 3, 5, 8, 13}, {60, 0, 7}, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9}};

// Long prefixes and 64-wide heads: enough work per (sequence, head) for the
// attention to split over threads.
void check_decode_step_long(bool llama) {
  GPTConfig c = tiny(llama);
  c.block_size = 256;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_embd = 128;
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t len : {200, 3, 150, 240}) {
    prompts.emplace_back();
    for (int64_t i = 0; i < len; ++i) prompts.back().push_back((i * 7 + len) % c.vocab_size);
  }
  check_decode_step(c, prompts);
}

}  // namespace

TEST(GPT, DecodeStepMatchesForwardPerSequence) { check_decode_step(tiny(false), kShortPrompts); }
TEST(GPT, DecodeStepMatchesForwardPerSequenceLlama) { check_decode_step(tiny(true), kShortPrompts); }
TEST(GPT, DecodeStepMatchesForwardLongPrefixes) {
  check_decode_step_long(false);
  check_decode_step_long(true);
}

TEST(GPT, DecodeStepErrorsLeaveCachesUntouched) {
  GPT m(tiny());
  KVCache a = m.make_cache(1, 4), full = m.make_cache(1, 2), wide = m.make_cache(2, 4);
  m.forward(ids({1, 2}, 1), full);
  m.forward(ids({3}, 1), a);
  expect_error<ShapeError>([&] { m.decode_step({1, 2}, {&a}); }, {"2 tokens", "1 caches"});
  expect_error<ShapeError>([&] { m.decode_step({}, {}); }, "at least one");
  expect_error<ShapeError>([&] { m.decode_step({1, 2}, {&a, &full}); }, {"cache 1", "2 of 2"});
  expect_error<ShapeError>([&] { m.decode_step({1}, {&wide}); }, "batch 2");
  expect_error<IndexError>([&] { m.decode_step({1, 61}, {&a, &wide}); }, {"token 1", "61"});
  expect_error<Error>([&] { m.decode_step({1, 2}, {&a, &a}); }, "same cache");
  expect_error<Error>([&] { m.decode_step({1}, {nullptr}); }, "null");
  EXPECT_EQ(a.length, 1);
  EXPECT_EQ(full.length, 2);
  m.train();  // inference only: no dropout, no graph, in either mode
  Tensor y = m.decode_step({5}, {&a});
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(a.length, 2);
}

}  // namespace tessera::models
