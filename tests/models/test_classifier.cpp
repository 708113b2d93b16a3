// SequenceClassifier (models/classifier.h) over GPT and BERT backbones: the
// padding is invisible (a padded batch gives each sequence's own logits and
// the gradients of the sum of its single losses), the pooling choices against
// their definitions, head init and names; and GPT::hidden_states against
// forward's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tessera/autograd/grad_mode.h"
#include "tessera/models/bert.h"
#include "tessera/models/classifier.h"
#include "tessera/models/gpt.h"
#include "tessera/nn/lora.h"
#include "tessera/tessera.h"
#include "test_util.h"

namespace tessera::models {
namespace {

using test_util::expect_error;
using test_util::max_abs_diff;

GPTConfig tiny_gpt() {
  GPTConfig c;
  c.vocab_size = 50;
  c.block_size = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  c.dropout = 0.1;
  return c;
}

BertConfig tiny_bert() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 32;
  c.max_position_embeddings = 16;
  return c;
}

const int32_t kPad = 49;  // never a real token below, so its embedding row must get no gradient
const std::vector<std::vector<int32_t>> kSeqs = {{3, 8, 1}, {5, 2, 9, 9, 4, 7, 11}, {6}, {12, 30, 2, 8, 1}};

std::shared_ptr<SequenceClassifier> make(const std::string& kind, const std::string& pooling, bool pooler = true) {
  ClassifierOptions o{.pooling = pooling, .num_labels = 3, .dropout = 0.1};
  if (kind == "gpt") return std::make_shared<SequenceClassifier>(std::make_shared<GPT>(tiny_gpt(), 1), o, 2);
  return std::make_shared<SequenceClassifier>(std::make_shared<BertModel>(tiny_bert(), 1, pooler), o, 2);
}

struct Case {
  std::string kind, pooling;
  bool pooler = true;
};
const std::vector<Case> kCases = {{"gpt", "last"},  {"gpt", "mean"},  {"bert", "cls"},       {"bert", "cls", false},
                                  {"bert", "last"}, {"bert", "mean"}, {"bert", "mean", false}};

std::string name(const Case& c) { return c.kind + "/" + c.pooling + (c.pooler ? "" : "/no-pooler"); }

TEST(SequenceClassifier, PaddedBatchEqualsEachSequenceAlone) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(name(c));
    auto model = make(c.kind, c.pooling, c.pooler);
    model->eval();
    auto [ids, lengths] = pad_batch(kSeqs, kPad);
    EXPECT_EQ(ids.shape(), (Shape{4, 7}));
    EXPECT_EQ(lengths, (std::vector<int64_t>{3, 7, 1, 5}));
    Tensor batch = model->forward(ids, lengths);
    ASSERT_EQ(batch.shape(), (Shape{4, 3}));
    for (size_t b = 0; b < kSeqs.size(); ++b) {
      auto [one, len] = pad_batch({kSeqs[b]}, kPad);
      Tensor alone = model->forward(one, len);
      EXPECT_LT(max_abs_diff(batch.select(0, static_cast<int64_t>(b)), alone.select(0, 0)), 1e-5) << "row " << b;
    }
    // Another pad id changes nothing.
    auto [ids2, lengths2] = pad_batch(kSeqs, 0);
    EXPECT_LT(max_abs_diff(model->forward(ids2, lengths2), batch), 1e-5);
  }
}

TEST(SequenceClassifier, PaddingGetsNoGradient) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(name(c));
    auto model = make(c.kind, c.pooling, c.pooler);
    model->eval();
    auto [ids, lengths] = pad_batch(kSeqs, kPad);
    std::vector<int64_t> labels = {0, 2, 1, 2};
    model->zero_grad();
    cross_entropy(model->forward(ids, lengths), from_vector<int64_t>(labels, {4}), Tensor(), -100, 0.0, "sum").backward();
    std::vector<std::pair<std::string, Tensor>> batch_grads;
    for (auto& [n, p] : model->named_parameters())
      batch_grads.emplace_back(n, p.grad().defined() ? p.grad().clone() : zeros(p.shape()));
    model->zero_grad();
    for (size_t b = 0; b < kSeqs.size(); ++b) {
      auto [one, len] = pad_batch({kSeqs[b]}, kPad);
      cross_entropy(model->forward(one, len), from_vector<int64_t>({labels[b]}, {1}), Tensor(), -100, 0.0, "sum").backward();
    }
    for (auto& [n, g] : batch_grads) {
      Tensor p = model->parameter(n);
      Tensor single = p.grad().defined() ? p.grad() : zeros(p.shape());
      EXPECT_LT(max_abs_diff(g, single), 1e-5) << n;
    }
    // The pad token's embedding row: the batch used it at 13 padded positions, yet its gradient is exactly 0.
    const std::string emb = c.kind == "gpt" ? "backbone.transformer.wte.weight" : "backbone.embeddings.word_embeddings.weight";
    for (auto& [n, g] : batch_grads)
      if (n == emb)
        for (double v : g.select(0, kPad).to_vector<double>()) EXPECT_EQ(v, 0.0);
  }
}

TEST(SequenceClassifier, PoolingDefinitions) {
  auto [ids, lengths] = pad_batch(kSeqs, kPad);
  {
    auto gpt = std::make_shared<GPT>(tiny_gpt(), 1);
    gpt->eval();
    Tensor h = gpt->hidden_states(ids);  // (B, T, C)
    SequenceClassifier last(gpt, {.pooling = "last"}, 0), mean(gpt, {.pooling = "mean"}, 0);
    last.eval();
    Tensor pl = last.pooled(ids, lengths), pm = mean.pooled(ids, lengths);
    for (int64_t b = 0; b < 4; ++b) {
      const int64_t L = lengths[b];
      EXPECT_EQ(max_abs_diff(pl.select(0, b), h.select(0, b).select(0, L - 1)), 0.0);
      Tensor m = div(sum(h.select(0, b).narrow(0, 0, L), {0}), from_vector<float>({static_cast<float>(L)}, {1}));
      EXPECT_LT(max_abs_diff(pm.select(0, b), m), 1e-6);
    }
  }
  for (bool pooler : {true, false}) {
    auto bert = std::make_shared<BertModel>(tiny_bert(), 1, pooler);
    bert->eval();
    SequenceClassifier cls(bert, {.pooling = "cls"}, 0);
    cls.eval();
    std::vector<int64_t> mask;
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t t = 0; t < 7; ++t) mask.push_back(t < lengths[b] ? 1 : 0);
    Tensor h = bert->forward(ids, from_vector<int64_t>(mask, {4, 7}));
    Tensor want = pooler ? bert->pool(h) : h.select(1, 0);
    EXPECT_LT(max_abs_diff(cls.pooled(ids, lengths), want), 1e-6);
  }
}

TEST(SequenceClassifier, HeadInitNamesAndErrors) {
  auto model = make("gpt", "last");
  EXPECT_EQ(model->backbone_kind(), "gpt");
  EXPECT_EQ(model->hidden_size(), 16);
  auto sd = model->state_dict();
  EXPECT_TRUE(sd.count("backbone.transformer.wte.weight"));
  EXPECT_TRUE(sd.count("head.weight"));
  EXPECT_EQ(sd["head.weight"].shape(), (Shape{3, 16}));
  for (double v : sd["head.bias"].to_vector<double>()) EXPECT_EQ(v, 0.0);
  double ss = 0;
  auto w = sd["head.weight"].to_vector<double>();
  for (double v : w) ss += v * v;
  const double std = std::sqrt(ss / static_cast<double>(w.size()));
  EXPECT_GT(std, 0.01);  // N(0, 0.02) over 48 draws
  EXPECT_LT(std, 0.03);
  EXPECT_EQ(max_abs_diff(make("gpt", "last")->state_dict()["head.weight"], sd["head.weight"]), 0.0);  // by seed
  auto bert = make("bert", "cls");
  EXPECT_EQ(bert->backbone_kind(), "bert");
  EXPECT_TRUE(bert->state_dict().count("backbone.encoder.layer.0.attention.self.query.weight"));
  EXPECT_EQ(&bert->backbone(), bert->named_children()[0].second.get());

  expect_error<Error>([] { make("gpt", "cls"); }, {"cls", "bidirectional", "last", "mean"});
  expect_error<Error>([] { make("gpt", "max"); }, {"pooling 'max'"});
  auto [ids, lengths] = pad_batch(kSeqs, kPad);
  expect_error<ShapeError>([&] { model->forward(ids, {3, 7, 1}); }, {"3 lengths", "4 rows"});
  expect_error<ShapeError>([&] { model->forward(ids, {3, 8, 1, 5}); }, {"row 1", "length 8"});
  expect_error<ShapeError>([&] { model->forward(ids, {3, 0, 1, 5}); }, {"row 1", "length 0"});
  expect_error<Error>([] { pad_batch({{1}, {}}, 0); }, {"sequence 1", "empty"});
  expect_error<Error>([] { pad_batch({}, 0); }, {"empty batch"});
}

TEST(SequenceClassifier, DropoutOnlyInTraining) {
  auto model = make("bert", "mean");
  auto [ids, lengths] = pad_batch(kSeqs, kPad);
  model->eval();
  Tensor e1 = model->forward(ids, lengths), e2 = model->forward(ids, lengths);
  EXPECT_EQ(max_abs_diff(e1, e2), 0.0);
  model->train();
  EXPECT_GT(max_abs_diff(model->forward(ids, lengths), e1), 1e-6);
}

TEST(SequenceClassifier, LoraOnTheBackboneTrainsAdaptersAndHead) {
  auto model = make("bert", "cls");
  auto paths = nn::apply_lora(*model, {.rank = 2, .alpha = 4, .targets = {"query", "value"}}, 0);
  EXPECT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0], "backbone.encoder.layer.0.attention.self.query");
  nn::mark_only_lora_trainable(*model, {"head."});
  int64_t trainable = 0;
  for (auto& [n, p] : model->named_parameters())
    if (p.requires_grad()) {
      ++trainable;
      EXPECT_TRUE(n.find("lora_") != std::string::npos || n.rfind("head.", 0) == 0) << n;
    }
  EXPECT_EQ(trainable, 4 * 2 + 2);
}

TEST(GPTHiddenStates, ProjectedByTheEmbeddingGivesTheLogits) {
  for (bool tied : {true, false}) {
    GPTConfig c = tiny_gpt();
    c.tie_embeddings = tied;
    GPT gpt(c, 5);
    gpt.eval();
    Tensor idx = from_vector<int64_t>({1, 4, 9, 16, 25, 36, 2, 3}, {2, 4});
    Tensor h = gpt.hidden_states(idx);
    EXPECT_EQ(h.shape(), (Shape{2, 4, 16}));
    Tensor w = tied ? gpt.parameter("transformer.wte.weight") : gpt.parameter("lm_head.weight");
    EXPECT_LT(max_abs_diff(linear(h, w), gpt.forward(idx)), 1e-6);
    // Training mode: the same dropout masks when the generator state is the same.
    gpt.train();
    const uint64_t s = gpt.dropout_generator().seed(), off = gpt.dropout_generator().offset();
    Tensor ht = gpt.hidden_states(idx);
    gpt.dropout_generator().set_state(s, off);
    EXPECT_LT(max_abs_diff(linear(ht, w), gpt.forward(idx)), 1e-6);
    EXPECT_GT(max_abs_diff(ht, h), 1e-6);
    expect_error<ShapeError>([&] { gpt.hidden_states(from_vector<int64_t>({1, 2}, {2})); }, "(B, T)");
  }
}

}  // namespace
}  // namespace tessera::models
