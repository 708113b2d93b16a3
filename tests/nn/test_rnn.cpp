// RNN / LSTM / GRU: torch's parameter names, shape errors naming the module and
// both shapes, state_dict loading, backprop through the shared step buffer,
// dropout between layers, unbatched input.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>

#include "tessera/nn/rnn.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

nn::RNNOptions with(nn::RNNOptions o, const std::function<void(nn::RNNOptions&)>& set) {
  set(o);
  return o;
}


}  // namespace

TEST(RNN, ParameterNamesAndShapesMatchTorch) {
  nn::LSTM m(with(nn::rnn_options(5, 3, 2), [](nn::RNNOptions& o) { o.bidirectional = true; }));
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  for (auto& [n, t] : m.named_parameters()) {
    names.push_back(n);
    shapes.push_back(t.shape());
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse",
                       "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1",
                       "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse",
                       "bias_ih_l1_reverse", "bias_hh_l1_reverse"}));
  EXPECT_EQ(shapes[0], (Shape{12, 5}));
  EXPECT_EQ(shapes[1], (Shape{12, 3}));
  EXPECT_EQ(shapes[2], (Shape{12}));
  EXPECT_EQ(shapes[8], (Shape{12, 6}));  // layer 1 sees both directions

  nn::GRU g(with(nn::rnn_options(2, 4), [](nn::RNNOptions& o) { o.bias = false; }));
  names.clear();
  for (auto& [n, t] : g.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"}));
  EXPECT_EQ(g.parameter("weight_ih_l0").shape(), (Shape{12, 2}));

  // torch's init: every value within 1/sqrt(H).
  for (auto& [n, t] : m.named_parameters())
    for (float v : t.to_vector<float>()) EXPECT_LE(std::abs(v), 1.0f / std::sqrt(3.0f)) << n;
}

TEST(RNN, WrongInputFeatureSizeNamesModuleAndShapes) {
  nn::LSTM m(4, 3, 2);
  std::string msg = error_of([&] { m.forward(randn({5, 2, 7}), Tensor(), Tensor()); });
  EXPECT_TRUE(has(msg, "LSTM")) << msg;
  EXPECT_TRUE(has(msg, "[5, 2, 7]")) << msg;
  EXPECT_TRUE(has(msg, "input_size=4")) << msg;

  nn::GRU g(4, 3);
  msg = error_of([&] { g.forward(randn({5, 2, 3, 4}), Tensor()); });
  EXPECT_TRUE(has(msg, "GRU")) << msg;
  EXPECT_TRUE(has(msg, "[5, 2, 3, 4]")) << msg;
}

TEST(RNN, WrongInitialStateShapeNamesModuleAndBothShapes) {
  nn::LSTM m(with(nn::rnn_options(4, 3, 2), [](nn::RNNOptions& o) { o.batch_first = true; }));
  Tensor x = randn({2, 5, 4});  // (N, L, in)
  std::string msg = error_of([&] { m.forward(x, zeros({1, 2, 3}), zeros({2, 2, 3})); });
  EXPECT_TRUE(has(msg, "LSTM: h0 has shape [1, 2, 3]")) << msg;
  EXPECT_TRUE(has(msg, "needs [2, 2, 3]")) << msg;
  EXPECT_TRUE(has(msg, "[2, 5, 4]")) << msg;
  msg = error_of([&] { m.forward(x, zeros({2, 2, 3}), zeros({2, 5, 3})); });
  EXPECT_TRUE(has(msg, "c0 has shape [2, 5, 3]")) << msg;

  nn::RNN r(with(nn::rnn_options(4, 3), [](nn::RNNOptions& o) { o.bidirectional = true; }));
  msg = error_of([&] { r.forward(randn({5, 2, 4}), zeros({1, 2, 3})); });
  EXPECT_TRUE(has(msg, "RNN: h0 has shape [1, 2, 3]")) << msg;
  EXPECT_TRUE(has(msg, "needs [2, 2, 3]")) << msg;

  EXPECT_THROW(m.forward(x, zeros({2, 2, 3}), Tensor()), Error);  // h0 without c0

  // Inside a model the message names the module's path.
  nn::ModuleList list;
  list.push_back(std::make_shared<nn::GRU>(4, 3));
  msg = error_of([&] { list.at<nn::GRU>(0)->forward(randn({5, 2, 6}), Tensor()); });
  EXPECT_TRUE(has(msg, "GRU '0' (input_size=4, hidden_size=3): input of shape [5, 2, 6]")) << msg;
  EXPECT_THROW(nn::RNN(with(nn::rnn_options(4, 3), [](nn::RNNOptions& o) { o.nonlinearity = "gelu"; })), Error);
}

TEST(RNN, StateDictLoadsByNameAndGivesSameOutputsAndGradients) {
  manual_seed(3);
  nn::LSTM a(nn::rnn_options(4, 5, 2));
  manual_seed(4);
  nn::LSTM b(nn::rnn_options(4, 5, 2));
  b.load_state_dict(a.state_dict());
  Tensor x = randn({6, 3, 4});
  auto ra = a.forward(x, Tensor(), Tensor());
  auto rb = b.forward(x, Tensor(), Tensor());
  EXPECT_EQ(ra.output.to_vector<float>(), rb.output.to_vector<float>());
  EXPECT_EQ(ra.c_n.to_vector<float>(), rb.c_n.to_vector<float>());
  (sum(ra.output) + sum(ra.h_n) + sum(ra.c_n)).backward();
  (sum(rb.output) + sum(rb.h_n) + sum(rb.c_n)).backward();
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_TRUE(pb[i].second.grad().defined()) << pb[i].first;
    EXPECT_EQ(pa[i].second.grad().to_vector<float>(), pb[i].second.grad().to_vector<float>()) << pa[i].first;
  }
}

// The per-step input gradients are gathered in one buffer and handed back by
// one node: a loss on an early step only, and a retained graph run twice, must
// still give the exact gradients.
TEST(RNN, StepGradientsWithPartialLossAndRetainedGraph) {
  manual_seed(5);
  nn::GRU m(3, 4);
  Tensor x = randn({5, 2, 3}).set_requires_grad(true);
  auto r = m.forward(x, Tensor());
  Tensor loss = sum(r.output.select(0, 1));
  loss.backward(Tensor(), /*retain_graph=*/true);
  Tensor gx = x.grad().clone();
  Tensor gw = m.parameter("weight_ih_l0").grad().clone();
  for (int64_t t = 2; t < 5; ++t) EXPECT_EQ(max_abs_diff(gx.select(0, t), zeros({2, 3})), 0.0);
  EXPECT_GT(max_abs_diff(gx.select(0, 0), zeros({2, 3})), 0.0);
  EXPECT_GT(max_abs_diff(gw, zeros_like(gw)), 0.0);
  loss.backward(Tensor(), false);  // accumulates: twice the first gradients
  EXPECT_LT(max_abs_diff(x.grad(), gx * 2.0), 1e-6);
  EXPECT_LT(max_abs_diff(m.parameter("weight_ih_l0").grad(), gw * 2.0), 1e-6);

  // Same gradient as a step-by-step reference built from the cell formula.
  Tensor w_ih = m.parameter("weight_ih_l0"), w_hh = m.parameter("weight_hh_l0");
  Tensor b_ih = m.parameter("bias_ih_l0"), b_hh = m.parameter("bias_hh_l0");
  Tensor x2 = x.detach().clone().set_requires_grad(true);
  Tensor h = zeros({2, 4});
  Tensor h1;
  for (int64_t t = 0; t < 2; ++t) {
    Tensor gi = linear(x2.select(0, t), w_ih, b_ih), gh = linear(h, w_hh, b_hh);
    Tensor rg = sigmoid(gi.narrow(1, 0, 4) + gh.narrow(1, 0, 4));
    Tensor z = sigmoid(gi.narrow(1, 4, 4) + gh.narrow(1, 4, 4));
    Tensor n = tanh(gi.narrow(1, 8, 4) + rg * gh.narrow(1, 8, 4));
    h = (h - n) * z + n;
  }
  sum(h).backward();
  EXPECT_LT(max_abs_diff(x2.grad(), gx), 1e-6);
}

TEST(RNN, DropoutBetweenLayersOnlyInTraining) {
  manual_seed(6);
  nn::LSTM m(with(nn::rnn_options(3, 8, 2), [](nn::RNNOptions& o) { o.dropout = 0.5; }));
  Tensor x = randn({4, 2, 3});
  m.eval();
  Tensor e1 = m.forward(x), e2 = m.forward(x);
  EXPECT_EQ(e1.to_vector<float>(), e2.to_vector<float>());
  m.train();
  auto st = m.generator();
  Tensor t1 = m.forward(x);
  EXPECT_GT(max_abs_diff(t1, e1), 0.0);
  m.generator().set_state(st.seed(), st.offset());
  EXPECT_EQ(m.forward(x).to_vector<float>(), t1.to_vector<float>());  // reproducible from the generator state

  // A single layer has no "between": training output equals eval output.
  nn::GRU one(with(nn::rnn_options(3, 4), [](nn::RNNOptions& o) { o.dropout = 0.5; }));
  Tensor a = one.forward(x);
  one.eval();
  EXPECT_EQ(a.to_vector<float>(), one.forward(x).to_vector<float>());
}

TEST(RNN, UnbatchedMatchesBatchOfOneAndBatchFirstMatchesTimeMajor) {
  manual_seed(7);
  nn::RNN m(with(nn::rnn_options(3, 4, 2), [](nn::RNNOptions& o) { o.bidirectional = true; }));
  Tensor x = randn({5, 3});  // (L, in)
  Tensor h0 = randn({4, 4});
  auto u = m.forward(x, h0);
  auto b = m.forward(x.unsqueeze(1), h0.unsqueeze(1));
  EXPECT_EQ(u.output.shape(), (Shape{5, 8}));
  EXPECT_EQ(u.h_n.shape(), (Shape{4, 4}));
  EXPECT_EQ(u.output.to_vector<float>(), b.output.squeeze(1).to_vector<float>());
  EXPECT_EQ(u.h_n.to_vector<float>(), b.h_n.squeeze(1).to_vector<float>());

  nn::RNN bf(with(nn::rnn_options(3, 4, 2), [](nn::RNNOptions& o) { o.batch_first = true; o.bidirectional = true; }));
  bf.load_state_dict(m.state_dict());
  Tensor xb = randn({5, 2, 3});  // (L, N, in)
  auto tm = m.forward(xb, Tensor());
  auto fm = bf.forward(xb.transpose(0, 1), Tensor());
  EXPECT_EQ(fm.output.shape(), (Shape{2, 5, 8}));
  EXPECT_EQ(fm.output.transpose(0, 1).contiguous().to_vector<float>(), tm.output.to_vector<float>());
  EXPECT_EQ(fm.h_n.to_vector<float>(), tm.h_n.to_vector<float>());
}
