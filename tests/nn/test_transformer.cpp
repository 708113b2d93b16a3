// MultiheadAttention and Transformer modules: torch's parameter names and
// initialization, the fused (need_weights = false) path against the explicit
// one, unbatched input, and one clear error (module, path, shapes) for bad
// input. Numerical parity with torch is in tests/parity/cases/nn_transformer.py.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <limits>

#include "tessera/nn/transformer.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> out;
  for (auto& [n, t] : m.named_parameters()) out.push_back(n);
  return out;
}


// Expects `f` to throw E whose message contains every one of `parts`.

Tensor bool_mask(const std::vector<std::vector<int>>& rows) {
  std::vector<double> v;
  for (auto& r : rows)
    for (int x : r) v.push_back(x);
  return from_vector<double>(v, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())},
                              {.dtype = DType::Bool});
}

nn::TransformerOptions small_transformer() {
  nn::TransformerOptions o;
  o.d_model = 8;
  o.nhead = 2;
  o.num_encoder_layers = 2;
  o.num_decoder_layers = 2;
  o.dim_feedforward = 16;
  o.dropout = 0.0;
  return o;
}

}  // namespace

TEST(MultiheadAttention, TorchParameterNamesAndInit) {
  nn::MultiheadAttention m(8, 2);
  EXPECT_EQ(names_of(m),
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(m.in_proj_weight.shape(), (Shape{24, 8}));
  EXPECT_EQ(max_abs_diff(m.in_proj_bias, zeros({24})), 0.0);
  EXPECT_EQ(max_abs_diff(m.out_proj->bias, zeros({8})), 0.0);
  // xavier_uniform_ on (3E, E): bound sqrt(6 / (E + 3E)).
  double bound = std::sqrt(6.0 / 32.0);
  for (double v : m.in_proj_weight.to_vector<double>()) EXPECT_LE(std::abs(v), bound);

  nn::MultiheadAttentionOptions o{8, 2};
  o.kdim = 5;
  o.vdim = 3;
  o.bias = false;
  nn::MultiheadAttention sep(o);
  EXPECT_EQ(names_of(sep), (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                     "out_proj.weight"}));
  EXPECT_EQ(sep.k_proj_weight.shape(), (Shape{8, 5}));
  EXPECT_EQ(sep.v_proj_weight.shape(), (Shape{8, 3}));
}

TEST(MultiheadAttention, FusedPathMatchesExplicitPath) {
  manual_seed(3);
  nn::MultiheadAttention m(8, 2);
  Tensor x = randn({5, 3, 8}).set_requires_grad(true);  // (L, N, E)
  Tensor kpm = bool_mask({{0, 0, 0, 0, 0}, {0, 0, 0, 1, 1}, {0, 1, 1, 1, 1}});
  // Explicit bool mask vs is_causal, and the weights path vs the fused kernel.
  Tensor causal = bool_mask({{0, 1, 1, 1, 1}, {0, 0, 1, 1, 1}, {0, 0, 0, 1, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 0}});
  auto a = m.forward(x, x, x, kpm, true, causal);
  auto b = m.forward(x, x, x, kpm, false, Tensor(), true, /*is_causal=*/true);
  EXPECT_TRUE(a.weights.defined());
  EXPECT_EQ(a.weights.shape(), (Shape{3, 5, 5}));
  EXPECT_FALSE(b.weights.defined());
  EXPECT_LT(max_abs_diff(a.output, b.output), 1e-5);
  // Masked keys get exactly zero weight; rows sum to one.
  auto w = a.weights.to_vector<double>();
  EXPECT_EQ(w[2 * 25 + 4 * 5 + 1], 0.0);  // batch 2 pads keys 1..4
  EXPECT_EQ(w[0 * 25 + 0 * 5 + 1], 0.0);  // causal: query 0 sees key 0 only
  EXPECT_NEAR(w[1 * 25 + 4 * 5 + 0] + w[1 * 25 + 4 * 5 + 1] + w[1 * 25 + 4 * 5 + 2], 1.0, 1e-6);

  sum(a.output).backward();
  Tensor ga = x.grad();
  x.zero_grad();
  sum(b.output).backward();
  EXPECT_LT(max_abs_diff(ga, x.grad()), 1e-5);
}

TEST(MultiheadAttention, UnbatchedEqualsBatchOfOne) {
  manual_seed(4);
  nn::MultiheadAttentionOptions o{6, 3};
  o.batch_first = true;
  nn::MultiheadAttention m(o);
  Tensor q = randn({4, 6}), kv = randn({7, 6});  // (L, E), (S, E)
  auto u = m.forward(q, kv, kv);
  auto b = m.forward(q.unsqueeze(0), kv.unsqueeze(0), kv.unsqueeze(0));
  EXPECT_EQ(u.output.shape(), (Shape{4, 6}));
  EXPECT_EQ(u.weights.shape(), (Shape{4, 7}));
  EXPECT_LT(max_abs_diff(u.output, b.output.squeeze(0)), 1e-6);
  EXPECT_LT(max_abs_diff(u.weights, b.weights.squeeze(0)), 1e-6);
}

TEST(MultiheadAttention, DropoutOnlyInTraining) {
  manual_seed(5);
  nn::MultiheadAttentionOptions o{8, 2};
  o.dropout = 0.5;
  nn::MultiheadAttention m(o);
  Tensor x = randn({4, 2, 8});
  m.eval();
  auto e1 = m.forward(x, x, x), e2 = m.forward(x, x, x);
  EXPECT_EQ(max_abs_diff(e1.output, e2.output), 0.0);
  m.train();
  auto t = m.forward(x, x, x);
  EXPECT_GT(max_abs_diff(t.output, e1.output), 1e-3);
}

TEST(MultiheadAttention, BadInputNamesModuleAndShapes) {
  nn::MultiheadAttention m(8, 2);
  Tensor x = randn({5, 2, 8});
  expect_error<ShapeError>([&] { m.forward(randn({5, 2, 6}), x, x); },
                           {"MultiheadAttention(embed_dim=8, num_heads=2)", "[5, 2, 6]", "embed_dim 8"});
  expect_error<ShapeError>([&] { m.forward(x, randn({5, 3, 8}), randn({5, 3, 8})); },
                           {"MultiheadAttention", "batch sizes differ", "[5, 3, 8]"});
  expect_error<ShapeError>([&] { m.forward(x, x, x, zeros({2, 4}, {.dtype = DType::Bool})); },
                           {"key_padding_mask has shape [2, 4]", "expected [2, 5]"});
  expect_error<ShapeError>([&] { m.forward(x, x, x, Tensor(), true, zeros({5, 4}, {.dtype = DType::Bool})); },
                           {"attn_mask has shape [5, 4]", "[5, 5]"});
  expect_error<ShapeError>([&] { m.forward(x, x, x, Tensor(), true, zeros({2, 5, 5})); },
                           {"attn_mask has shape [2, 5, 5]", "[4, 5, 5]"});
  expect_error<DTypeError>([&] { m.forward(x, x, x, zeros({2, 5}, {.dtype = DType::I64})); },
                           {"key_padding_mask must be bool"});
  expect_error<ShapeError>([&] { nn::MultiheadAttention(8, 3); }, {"embed_dim 8 is not divisible by num_heads 3"});
}

TEST(Transformer, TorchParameterNames) {
  nn::Transformer t(small_transformer());
  auto names = names_of(t);
  std::vector<std::string> want;
  auto attn = [&](const std::string& p) {
    for (auto s : {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}) want.push_back(p + s);
  };
  auto rest = [&](const std::string& p, int norms) {
    for (auto s : {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"}) want.push_back(p + s);
    for (int i = 1; i <= norms; ++i)
      for (auto s : {".weight", ".bias"}) want.push_back(p + "norm" + std::to_string(i) + s);
  };
  for (int i = 0; i < 2; ++i) {
    std::string p = "encoder.layers." + std::to_string(i) + ".";
    attn(p + "self_attn.");
    rest(p, 2);
  }
  want.push_back("encoder.norm.weight");
  want.push_back("encoder.norm.bias");
  for (int i = 0; i < 2; ++i) {
    std::string p = "decoder.layers." + std::to_string(i) + ".";
    attn(p + "self_attn.");
    attn(p + "multihead_attn.");
    rest(p, 3);
  }
  want.push_back("decoder.norm.weight");
  want.push_back("decoder.norm.bias");
  EXPECT_EQ(names, want);
  EXPECT_EQ(t.num_parameters(), 3040);  // torch.nn.Transformer(8, 2, 2, 2, 16)

  // A state_dict round trip between two independently initialized models.
  manual_seed(11);
  nn::Transformer u(small_transformer());
  Tensor src = randn({6, 2, 8}), tgt = randn({5, 2, 8});
  EXPECT_GT(max_abs_diff(t.forward(src, tgt), u.forward(src, tgt)), 1e-4);
  u.load_state_dict(t.state_dict());
  EXPECT_EQ(max_abs_diff(t.forward(src, tgt), u.forward(src, tgt)), 0.0);
}

TEST(Transformer, EncoderLayersStartEqualAsTorchClones) {
  nn::TransformerLayerOptions o{8, 2, 16, 0.0};
  nn::TransformerEncoder enc(o, 3, true);
  auto a = enc.layers->at<nn::TransformerEncoderLayer>(0), c = enc.layers->at<nn::TransformerEncoderLayer>(2);
  EXPECT_EQ(max_abs_diff(a->linear1->weight, c->linear1->weight), 0.0);
  EXPECT_FALSE(a->linear1->weight.is_same(c->linear1->weight));  // copies, not shared
  EXPECT_TRUE(enc.norm != nullptr);
  nn::TransformerDecoder dec(o, 1);
  EXPECT_TRUE(dec.norm == nullptr);
  EXPECT_EQ(names_of(dec).size(), 18u);
}

TEST(Transformer, SquareSubsequentMask) {
  Tensor m = nn::Transformer::generate_square_subsequent_mask(3);
  auto v = m.to_vector<double>();
  double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(v, (std::vector<double>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0}));
}

TEST(Transformer, BadInputNamesModulePathAndShapes) {
  nn::Transformer t(small_transformer());
  Tensor src = randn({6, 2, 8}), tgt = randn({5, 2, 8});
  expect_error<ShapeError>([&] { t.forward(randn({6, 2, 7}), tgt); },
                           {"Transformer(d_model=8, nhead=2)", "[6, 2, 7]", "[5, 2, 8]", "d_model = 8"});
  expect_error<ShapeError>([&] { t.forward(src, randn({5, 3, 8})); }, {"batch sizes", "[6, 2, 8]", "[5, 3, 8]"});
  // A mask of the wrong shape deep inside: the path to the attention module.
  expect_error<ShapeError>([&] { t.forward(src, tgt, Tensor(), nn::Transformer::generate_square_subsequent_mask(4)); },
                           {"[decoder.layers.0.self_attn] MultiheadAttention(embed_dim=8, num_heads=2)",
                            "attn_mask has shape [4, 4]", "[5, 5]"});
  expect_error<ShapeError>([&] { t.forward(src, tgt, Tensor(), Tensor(), Tensor(), zeros({2, 5}, {.dtype = DType::Bool})); },
                           {"[encoder.layers.0.self_attn]", "key_padding_mask has shape [2, 5]", "[2, 6]"});

  nn::TransformerEncoderLayer layer(nn::TransformerLayerOptions{8, 2, 16, 0.0});
  expect_error<ShapeError>([&] { layer.forward(randn({3, 8, 4})); },
                           {"TransformerEncoderLayer(d_model=8, nhead=2)", "src of shape [3, 8, 4]"});
  nn::TransformerDecoderLayer dlayer(nn::TransformerLayerOptions{8, 2, 16, 0.0});
  expect_error<ShapeError>([&] { dlayer.forward(randn({3, 2, 8}), randn({4, 2, 6})); },
                           {"TransformerDecoderLayer(d_model=8, nhead=2)", "memory of shape [4, 2, 6]"});
  expect_error<Error>([&] { nn::TransformerEncoderLayer(nn::TransformerLayerOptions{8, 2, 16, 0.0, "tanh"}); },
                      {"activation should be relu or gelu, not 'tanh'"});
}
