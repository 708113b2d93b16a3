// LoRA (nn::Linear::enable_lora, nn/lora.h): the adapted forward against the
// PEFT formula computed by hand in double precision, the zero-B start, name
// matching, freezing (gradients reach only the adapters), merging, and a GPT
// with adapters (full forward, KV-cache decoding and merge agree).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tessera/autograd/grad_mode.h"
#include "tessera/models/gpt.h"
#include "tessera/nn/layers.h"
#include "tessera/nn/lora.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace tessera::nn {
namespace {

using test_util::expect_error;
using test_util::max_abs_diff;

// A module whose children are named by the test (HF-like paths).
class Box : public Module {
 public:
  Box() : Module("Box") {}
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) { return register_module(name, m); }
};

void fill_random(Tensor t, uint64_t seed, double scale = 0.5) {
  Generator g(seed);
  NoGradGuard ng;
  t.copy_(mul(randn(t.shape(), g), scale));
}

// y = x W^T + b + (alpha / r) (x A^T) B^T, in double, from the raw values (PEFT's LoraLayer with dropout 0).
std::vector<double> reference(const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& A, const Tensor& B,
                              double scaling) {
  const int64_t N = x.size(0), in = x.size(1), out = W.size(0), r = A.size(0);
  auto xv = x.to_vector<double>(), wv = W.to_vector<double>(), bv = b.to_vector<double>(),
       av = A.to_vector<double>(), bbv = B.to_vector<double>();
  std::vector<double> y(N * out);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> ax(r, 0.0);
    for (int64_t k = 0; k < r; ++k)
      for (int64_t i = 0; i < in; ++i) ax[k] += xv[n * in + i] * av[k * in + i];
    for (int64_t o = 0; o < out; ++o) {
      double base = bv[o], delta = 0;
      for (int64_t i = 0; i < in; ++i) base += xv[n * in + i] * wv[o * in + i];
      for (int64_t k = 0; k < r; ++k) delta += ax[k] * bbv[o * r + k];
      y[n * out + o] = base + scaling * delta;
    }
  }
  return y;
}

TEST(Lora, ForwardIsThePeftFormula) {
  Linear lin(7, 5);
  Generator gen(3);
  lin.enable_lora(3, 6.0, 0.0, gen);
  ASSERT_TRUE(lin.has_lora());
  EXPECT_DOUBLE_EQ(lin.lora_scaling(), 2.0);
  Tensor& A = lin.parameter("lora_A.weight");
  Tensor& B = lin.parameter("lora_B.weight");
  EXPECT_EQ(A.shape(), (Shape{3, 7}));
  EXPECT_EQ(B.shape(), (Shape{5, 3}));
  fill_random(B, 11);  // a trained-looking B, so the update is not zero
  Tensor x = randn({4, 7}, gen);
  Tensor y = lin.forward(x);
  auto ref = reference(x, lin.weight, lin.bias, A, B, 2.0);
  auto got = y.to_vector<double>();
  ASSERT_EQ(got.size(), ref.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
  EXPECT_LT(worst, 1e-5);
  // Batched leading dims go through too: (2, 2, 7) gives the same rows.
  Tensor y3 = lin.forward(x.view({2, 2, 7}));
  EXPECT_LT(max_abs_diff(y3.reshape({4, 5}), y), 1e-6);
}

TEST(Lora, InitAsPeftAndZeroBStartsAtTheBase) {
  Box root;
  auto q = root.add("query", std::make_shared<Linear>(16, 8));
  Tensor x = randn({3, 16});
  Tensor before = root.parameter("query.weight").clone();
  Tensor y0 = q->forward(x);
  auto paths = apply_lora(root, {.rank = 4, .alpha = 8, .dropout = 0.0, .targets = {"query"}}, 5);
  EXPECT_EQ(paths, std::vector<std::string>{"query"});
  auto sd = root.state_dict();
  EXPECT_TRUE(sd.count("query.lora_A.weight"));
  EXPECT_TRUE(sd.count("query.lora_B.weight"));
  EXPECT_EQ(q->named_children().size(), 2u);
  EXPECT_EQ(q->named_children()[0].second->path(), "query.lora_A");
  // A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); B = 0.
  auto a = sd["query.lora_A.weight"].to_vector<double>();
  double amax = 0;
  for (double v : a) amax = std::max(amax, std::abs(v));
  EXPECT_LE(amax, 1.0 / std::sqrt(16.0));
  EXPECT_GT(amax, 0.5 / std::sqrt(16.0));
  for (double v : sd["query.lora_B.weight"].to_vector<double>()) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(max_abs_diff(q->forward(x), y0), 0.0);
  EXPECT_EQ(max_abs_diff(root.parameter("query.weight"), before), 0.0);
  // The same seed gives the same adapters.
  Box other;
  other.add("query", std::make_shared<Linear>(16, 8));
  apply_lora(other, {.rank = 4, .alpha = 8, .dropout = 0.0, .targets = {"query"}}, 5);
  EXPECT_EQ(max_abs_diff(other.parameter("query.lora_A.weight"), sd["query.lora_A.weight"]), 0.0);
  expect_error<Error>([&] { Generator g(1); q->enable_lora(2, 4, 0, g); }, {"query", "already"});
}

TEST(Lora, TargetsMatchWholeNameComponents) {
  Box root;
  auto layer = root.add("layer", std::make_shared<Box>());
  auto att = layer->add("attention", std::make_shared<Box>());
  auto att_out = att->add("output", std::make_shared<Box>());
  att_out->add("dense", std::make_shared<Linear>(4, 4));
  att->add("query", std::make_shared<Linear>(4, 4));
  att->add("subquery", std::make_shared<Linear>(4, 4));
  auto out = layer->add("output", std::make_shared<Box>());
  out->add("dense", std::make_shared<Linear>(4, 4));
  auto paths = apply_lora(root, {.rank = 2, .alpha = 2, .dropout = 0, .targets = {"query", "attention.output.dense"}}, 0);
  EXPECT_EQ(paths, (std::vector<std::string>{"layer.attention.output.dense", "layer.attention.query"}));
  // No match: the message lists the Linear layers there are.
  Box plain;
  plain.add("fc", std::make_shared<Linear>(4, 4));
  expect_error<Error>([&] { apply_lora(plain, {.targets = {"query"}}, 0); }, {"no Linear", "'query'", "fc"});
  expect_error<Error>([&] { apply_lora(plain, {.targets = {}}, 0); }, {"no Linear", "fc"});
  expect_error<Error>([&] { apply_lora(plain, {.rank = 0, .targets = {"fc"}}, 0); }, {"rank", "fc"});
}

// query/value adapted, out is the trainable head; everything else frozen.
struct Toy {
  Box root;
  std::shared_ptr<Linear> query, value, out;
  Toy() {
    query = root.add("query", std::make_shared<Linear>(6, 6));
    value = root.add("value", std::make_shared<Linear>(6, 6));
    out = root.add("out", std::make_shared<Linear>(6, 2));
  }
  Tensor forward(const Tensor& x) { return out->forward(relu(add(query->forward(x), value->forward(x)))); }
};

TEST(Lora, FrozenBaseGetsNoGradient) {
  Toy t;
  apply_lora(t.root, {.rank = 2, .alpha = 4, .dropout = 0, .targets = {"query", "value"}}, 1);
  fill_random(t.root.parameter("query.lora_B.weight"), 2);
  fill_random(t.root.parameter("value.lora_B.weight"), 3);
  mark_only_lora_trainable(t.root, {"out."});
  std::set<std::string> trainable;
  for (auto& [n, p] : t.root.named_parameters())
    if (p.requires_grad()) trainable.insert(n);
  EXPECT_EQ(trainable, (std::set<std::string>{"query.lora_A.weight", "query.lora_B.weight", "value.lora_A.weight",
                                              "value.lora_B.weight", "out.weight", "out.bias"}));
  sum(t.forward(randn({5, 6}))).backward();
  for (auto& [n, p] : t.root.named_parameters()) {
    if (trainable.count(n)) {
      ASSERT_TRUE(p.grad().defined()) << n;
      double norm = 0;
      for (double g : p.grad().to_vector<double>()) norm += g * g;
      EXPECT_GT(norm, 0.0) << n;
    } else {
      EXPECT_FALSE(p.grad().defined()) << n;
    }
  }
  auto lsd = lora_state_dict(t.root);
  std::set<std::string> keys;
  for (auto& [n, v] : lsd) keys.insert(n);
  EXPECT_EQ(keys, (std::set<std::string>{"query.lora_A.weight", "query.lora_B.weight", "value.lora_A.weight",
                                         "value.lora_B.weight"}));
}

TEST(Lora, GradientsMatchTheFormula) {
  // dL/dB = s * g^T (x A^T), dL/dA = s * (g B)^T x for L = sum(y * g).
  Linear lin(5, 4);
  Generator gen(9);
  lin.enable_lora(2, 3.0, 0.0, gen);
  fill_random(lin.parameter("lora_B.weight"), 4);
  Tensor x = randn({3, 5}, gen), g = randn({3, 4}, gen);
  sum(mul(lin.forward(x), g)).backward();
  const double s = 1.5;
  Tensor A = lin.parameter("lora_A.weight").detach(), B = lin.parameter("lora_B.weight").detach();
  Tensor dB = mul(matmul(g.t(), matmul(x, A.t())), s);
  Tensor dA = mul(matmul(matmul(g, B).t(), x), s);
  EXPECT_LT(max_abs_diff(lin.parameter("lora_B.weight").grad(), dB), 1e-5);
  EXPECT_LT(max_abs_diff(lin.parameter("lora_A.weight").grad(), dA), 1e-5);
}

TEST(Lora, MergeKeepsOutputsAndRestoresBaseNames) {
  Toy t;
  auto base_keys = t.root.state_dict();
  apply_lora(t.root, {.rank = 3, .alpha = 12, .dropout = 0.1, .targets = {"query", "value"}}, 7);
  fill_random(t.root.parameter("query.lora_B.weight"), 5);
  fill_random(t.root.parameter("value.lora_B.weight"), 6);
  mark_only_lora_trainable(t.root, {"out."});
  t.root.eval();  // adapter dropout off
  Tensor x = randn({4, 6});
  Tensor before = t.forward(x);
  EXPECT_EQ(merge_all_lora(t.root), 2);
  EXPECT_FALSE(t.query->has_lora());
  Tensor after = t.forward(x);
  EXPECT_LT(max_abs_diff(before, after), 1e-5);
  std::set<std::string> k0, k1;
  for (auto& [n, v] : base_keys) k0.insert(n);
  for (auto& [n, v] : t.root.state_dict()) k1.insert(n);
  EXPECT_EQ(k0, k1);
  EXPECT_TRUE(t.root.named_modules().size() == 4u);
  EXPECT_EQ(merge_all_lora(t.root), 0);
}

TEST(Lora, DropoutOnlyOnTheAdapterInputInTraining) {
  Linear lin(8, 3);
  Generator gen(2);
  lin.enable_lora(2, 2.0, 0.5, gen);
  fill_random(lin.parameter("lora_B.weight"), 8);
  Tensor x = randn({6, 8}, gen);
  lin.eval();
  Tensor ye = lin.forward(x);
  auto ref = reference(x, lin.weight, lin.bias, lin.parameter("lora_A.weight"), lin.parameter("lora_B.weight"), 1.0);
  EXPECT_LT(max_abs_diff(ye, from_vector<double>(ref, {6, 3})), 1e-5);
  lin.train();
  Tensor yt = lin.forward(x);
  EXPECT_GT(max_abs_diff(yt, ye), 1e-4);
  // Training output - base part = scaling * B A dropout(x): the base part itself is not dropped.
  Tensor base = linear(x, lin.weight, lin.bias);
  Tensor delta = sub(yt, base);
  auto d = delta.to_vector<double>();
  double dn = 0;
  for (double v : d) dn += std::abs(v);
  EXPECT_GT(dn, 0.0);
}

models::GPTConfig tiny_gpt() {
  models::GPTConfig c;
  c.vocab_size = 50;
  c.block_size = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  return c;
}

TEST(Lora, GptAdaptersInForwardDecodeAndMerge) {
  models::GPT gpt(tiny_gpt(), 4);
  gpt.eval();
  Tensor idx = from_vector<int64_t>({1, 5, 9, 2, 7, 3}, {1, 6});
  Tensor base = gpt.forward(idx);
  auto paths = apply_lora(gpt, {.rank = 4, .alpha = 8, .dropout = 0, .targets = {"c_attn"}}, 3);
  EXPECT_EQ(paths, (std::vector<std::string>{"transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"}));
  EXPECT_EQ(max_abs_diff(gpt.forward(idx), base), 0.0);  // B = 0
  for (auto& p : paths) fill_random(gpt.parameter(p + ".lora_B.weight"), 17, 0.3);
  Tensor adapted = gpt.forward(idx);
  EXPECT_GT(max_abs_diff(adapted, base), 1e-3);
  // Cached decoding runs the same Linear layers, adapters included.
  models::KVCache cache = gpt.make_cache(1, 8);
  gpt.forward(idx.narrow(1, 0, 5), cache);
  Tensor step = gpt.decode_step({3}, {&cache});
  EXPECT_LT(max_abs_diff(step, adapted.select(1, 5)), 1e-4);
  merge_all_lora(gpt);
  EXPECT_LT(max_abs_diff(gpt.forward(idx), adapted), 1e-5);
  EXPECT_FALSE(gpt.state_dict().count("transformer.h.0.attn.c_attn.lora_A.weight"));
}

}  // namespace
}  // namespace tessera::nn
