// SequenceClassifier and pad_batch (models/classifier.h).
#include "tessera/models/classifier.h"

#include <algorithm>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/models/bert.h"
#include "tessera/models/gpt.h"
#include "tessera/nn/init.h"
#include "tessera/ops/dropout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/indexing.h"
#include "tessera/ops/reduce.h"

namespace tessera::models {

SequenceClassifier::SequenceClassifier(std::shared_ptr<GPT> gpt, const ClassifierOptions& options, uint64_t seed)
    : Module("SequenceClassifier"), options_(options), gpt_(std::move(gpt)) {
  TSR_CHECK(gpt_ != nullptr, Error, "SequenceClassifier: the GPT backbone is null");
  TSR_CHECK(options.pooling != "cls", Error,
            "SequenceClassifier: pooling 'cls' needs a bidirectional encoder (BERT); a GPT's first token sees only "
            "itself. Use pooling 'last' or 'mean' with a GPT");
  hidden_ = gpt_->config().n_embd;
  register_module("backbone", gpt_);
  init(options, seed);
}

SequenceClassifier::SequenceClassifier(std::shared_ptr<BertModel> bert, const ClassifierOptions& options,
                                       uint64_t seed)
    : Module("SequenceClassifier"), options_(options), bert_(std::move(bert)) {
  TSR_CHECK(bert_ != nullptr, Error, "SequenceClassifier: the BERT backbone is null");
  hidden_ = bert_->config().hidden_size;
  register_module("backbone", bert_);
  init(options, seed);
}

void SequenceClassifier::init(const ClassifierOptions& o, uint64_t seed) {
  TSR_CHECK(o.pooling == "cls" || o.pooling == "last" || o.pooling == "mean", Error,
            "SequenceClassifier: unknown pooling '", o.pooling, "' (use cls, last or mean)");
  TSR_CHECK(o.num_labels >= 1, Error, "SequenceClassifier: num_labels must be >= 1, got ", o.num_labels);
  TSR_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, Error, "SequenceClassifier: dropout must be in [0, 1), got ",
            o.dropout);
  // Separate streams for the head's weights and the dropout masks, both from the seed.
  Generator init_gen(seed);
  dropout_gen_ = Generator(seed ^ 0x9E3779B97F4A7C15ull);
  head_ = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions{hidden_, o.num_labels, true}, init_gen));
  NoGradGuard ng;
  nn::init::normal_(head_->weight, 0.0, 0.02, &init_gen);  // HF _init_weights
  nn::init::zeros_(head_->bias);
}

std::string SequenceClassifier::backbone_kind() const { return gpt_ ? "gpt" : "bert"; }

nn::Module& SequenceClassifier::backbone() {
  if (gpt_) return *gpt_;
  return *bert_;
}

Tensor SequenceClassifier::pooled(const Tensor& ids, const std::vector<int64_t>& lengths) {
  TSR_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.dim() == 2, ShapeError,
            "SequenceClassifier: expected token ids (B, T) of dtype int64, got ",
            ids.defined() ? dtype_name(ids.dtype()) + std::string(" ") + shape_str(ids.shape()) : "undefined");
  const int64_t B = ids.size(0), T = ids.size(1);
  TSR_CHECK(static_cast<int64_t>(lengths.size()) == B, ShapeError, "SequenceClassifier: ", lengths.size(),
            " lengths for a batch of ", B, " rows (ids ", shape_str(ids.shape()), ")");
  for (int64_t b = 0; b < B; ++b)
    TSR_CHECK(lengths[b] >= 1 && lengths[b] <= T, ShapeError, "SequenceClassifier: row ", b, " has length ",
              lengths[b], ", outside [1, ", T, "] (ids ", shape_str(ids.shape()), ")");

  // 1 = real token, 0 = padding (right-padded rows).
  std::vector<int64_t> keep(B * T);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) keep[b * T + t] = t < lengths[b] ? 1 : 0;
  Tensor h;  // (B, T, C)
  if (gpt_) {
    h = gpt_->hidden_states(ids);  // causal: real tokens never see the padding on their right
  } else {
    h = bert_->forward(ids, from_vector<int64_t>(keep, {B, T}));
  }
  const int64_t C = h.size(2);
  if (options_.pooling == "cls") return bert_->has_pooler() ? bert_->pool(h) : h.select(1, 0);
  if (options_.pooling == "last") {
    std::vector<int64_t> rows(B);
    for (int64_t b = 0; b < B; ++b) rows[b] = b * T + lengths[b] - 1;
    return index_select(h.reshape({B * T, C}), 0, from_vector<int64_t>(rows, {B}));  // (B, C)
  }
  // mean over the real tokens: padding rows are multiplied by 0, so they get no gradient either.
  std::vector<float> maskf(keep.begin(), keep.end()), lens(lengths.begin(), lengths.end());
  Tensor m = from_vector<float>(maskf, {B, T, 1}).to(h.dtype());
  Tensor n = from_vector<float>(lens, {B, 1}).to(h.dtype());
  return div(sum(mul(h, m), {1}), n);  // (B, C)
}

Tensor SequenceClassifier::forward(const Tensor& ids, const std::vector<int64_t>& lengths) {
  Tensor p = pooled(ids, lengths);
  if (is_training() && options_.dropout > 0) p = dropout(p, options_.dropout, true, dropout_gen_);
  return head_->forward(p);  // (B, num_labels)
}

Tensor SequenceClassifier::forward(const Tensor& ids) {
  TSR_CHECK(ids.defined() && ids.dim() == 2, ShapeError, "SequenceClassifier: expected token ids (B, T), got ",
            ids.defined() ? shape_str(ids.shape()) : "undefined");
  return forward(ids, std::vector<int64_t>(ids.size(0), ids.size(1)));
}

std::pair<Tensor, std::vector<int64_t>> pad_batch(const std::vector<std::vector<int32_t>>& seqs, int32_t pad_id) {
  TSR_CHECK(!seqs.empty(), Error, "pad_batch: empty batch");
  const int64_t B = static_cast<int64_t>(seqs.size());
  int64_t T = 0;
  std::vector<int64_t> lengths(B);
  for (int64_t b = 0; b < B; ++b) {
    TSR_CHECK(!seqs[b].empty(), Error, "pad_batch: sequence ", b, " is empty (every row needs at least one token)");
    lengths[b] = static_cast<int64_t>(seqs[b].size());
    T = std::max(T, lengths[b]);
  }
  std::vector<int64_t> ids(B * T, pad_id);
  for (int64_t b = 0; b < B; ++b) std::copy(seqs[b].begin(), seqs[b].end(), ids.begin() + b * T);
  return {from_vector<int64_t>(ids, {B, T}), std::move(lengths)};
}

}  // namespace tessera::models
