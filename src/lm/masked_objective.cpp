// Masked language modeling (lm/pretrain.h, objective "mlm"): BERT's masked
// LM on packed windows (RoBERTa's FULL-SENTENCES input without next-sentence
// prediction): each example is seq_len - 2 consecutive shard tokens, which
// may cross document separators, wrapped as [CLS] window [SEP].
#include <set>

#include "io/json_reader.h"
#include "lm/lm_objective.h"
#include "tessera/lm/mlm.h"
#include "tessera/models/bert.h"
#include "tessera/ops/loss.h"
#include "tessera/text/tokenizer.h"

using nlohmann::json;

namespace tessera::lm {

namespace {

// The masking streams are derived from the seed but kept apart from the
// model's initializer and dropout streams and from the sampler's.
constexpr uint64_t kTrainMaskSalt = 0x8CB92BA72F3D8DD7ull;
constexpr uint64_t kValMaskSalt = 0xABC98388FB8FAC03ull;

class MaskedObjective : public LanguageModelObjective {
 public:
  MaskedObjective(const PretrainRecipe& recipe, text::TokenData data, json model_section,
                  const std::string& tokenizer_file)
      : LanguageModelObjective(recipe, std::move(data)),
        mlm_(recipe.mlm),
        train_masks_(recipe.seed ^ kTrainMaskSalt),
        val_seed_(recipe.seed ^ kValMaskSalt) {
    auto tok = text::load_tokenizer(tokenizer_file);
    auto need = [&](const char* name) {
      auto id = tok->special_id(name);
      TSR_CHECK(id.has_value(), Error, "pretrain --objective mlm: the tokenizer ", tokenizer_file, " (", tok->kind(),
                ") has no ", name, " token; masked-LM pretraining needs [CLS], [SEP], [MASK] and [PAD] ",
                "(a WordPiece vocabulary, or a tokenizer trained with those specials)");
      return static_cast<int64_t>(*id);
    };
    cls_ = need("[CLS]"), sep_ = need("[SEP]");
    const int64_t mask = need("[MASK]"), pad = need("[PAD]");
    // The recipe's model section is a BertConfig (config.json keys); typos are errors.
    std::set<std::string> known;
    const json defaults = json::parse(models::BertConfig().to_json());
    for (auto it = defaults.begin(); it != defaults.end(); ++it) known.insert(it.key());
    io::JsonReader(model_section, "recipe", "model.").known_keys(known);
    if (!model_section.contains("pad_token_id")) model_section["pad_token_id"] = pad;
    cfg_ = models::BertConfig::from_json(model_section.dump(), "recipe model section");
    S_ = recipe.seq_len > 0 ? recipe.seq_len : cfg_.max_position_embeddings;
    TSR_CHECK(S_ <= cfg_.max_position_embeddings, Error, "recipe: train.seq_len ", S_,
              " exceeds model.max_position_embeddings ", cfg_.max_position_embeddings);
    TSR_CHECK(S_ >= 4, Error, "recipe: train.seq_len must be >= 4 for masked-LM pretraining ([CLS] + [SEP] + ",
              "two tokens), got ", S_);
    mlm_.mask_id = mask;
    mlm_.pad_id = pad;
    mlm_.vocab_size = data_.vocab_size;  // random replacements stay inside the tokenizer's ids
    mlm_.special_ids = {cls_, sep_, pad, mask};
    model_ = std::make_shared<models::BertForMaskedLM>(cfg_, recipe.seed);
  }
  nn::Module& module() override { return *model_; }

 protected:
  Generator& dropout_generator() override { return model_->bert->dropout_generator(); }
  const char* label() const override { return "BERT"; }
  std::string task() const override { return "masked_language_model"; }
  json model_json() const override { return json::parse(cfg_.to_json()); }
  void describe(json& c) const override {
    c["architecture"] = "bert";
    c["mlm"] = {{"mask_prob", mlm_.mask_prob}, {"replace_mask", mlm_.replace_mask},
                {"replace_random", mlm_.replace_random}, {"seq_len", S_}};
  }
  int64_t window() const override { return S_ - 3; }  // windows of S - 2 tokens
  int64_t positions() const override { return S_; }

  Tensor batch_loss(const text::TokenBatch& b, bool training) override {
    Tensor ids = wrap(b);
    MlmBatch m = mask_tokens(ids, mlm_, training ? train_masks_ : val_masks_);
    const int64_t B = ids.shape()[0];
    Tensor logits = model_->forward(m.input_ids, m.attention_mask);  // (B, S, V)
    Tensor flat = logits.reshape({B * S_, cfg_.vocab_size}), labels = m.labels.reshape({B * S_});
    // A batch with no selected position has nothing to predict: loss 0 (the
    // mean over no positions would be NaN and stop the run).
    if (m.num_selected == 0) return cross_entropy(flat, labels, Tensor(), -100, 0.0, "sum");
    return cross_entropy(flat, labels);
  }
  // Masks are drawn for the whole global batch (the same masking stream as in
  // one process), then this rank keeps its rows; its share is its part of
  // the batch's selected positions, the mean's denominator.
  train::MicroBatchLoss shard_loss(const text::TokenBatch& b, dist::Range r) override {
    Tensor ids = wrap(b);
    MlmBatch m = mask_tokens(ids, mlm_, train_masks_);
    if (r.size() == 0) return {Tensor(), 0, 0, 0.0};
    Tensor in = m.input_ids.narrow(0, r.begin, r.size()).contiguous();
    Tensor mask = m.attention_mask.narrow(0, r.begin, r.size()).contiguous();
    Tensor labels = m.labels.narrow(0, r.begin, r.size()).contiguous();
    const int64_t* l = labels.data<int64_t>();
    int64_t selected = 0;
    for (int64_t i = 0; i < labels.numel(); ++i) selected += l[i] != -100;
    Tensor logits = model_->forward(in, mask);
    Tensor flat = logits.reshape({r.size() * S_, cfg_.vocab_size}), lab = labels.reshape({r.size() * S_});
    const int64_t B = ids.shape()[0];
    if (m.num_selected == 0)  // nothing to predict anywhere: loss 0, as in one process
      return {cross_entropy(flat, lab, Tensor(), -100, 0.0, "sum"), r.size(), r.size() * S_,
              static_cast<double>(r.size()) / static_cast<double>(B)};
    const double share = static_cast<double>(selected) / static_cast<double>(m.num_selected);
    if (selected == 0) return {cross_entropy(flat, lab, Tensor(), -100, 0.0, "sum"), r.size(), r.size() * S_, share};
    return {cross_entropy(flat, lab), r.size(), r.size() * S_, share};
  }
  // The same masks at every evaluation: the validation stream restarts.
  void begin_validation() override { val_masks_ = Generator(val_seed_); }
  void save_rng(json& rng) const override { rng["masking"] = {train_masks_.seed(), train_masks_.offset()}; }
  void load_rng(const json& rng) override { train_masks_.set_state(rng.at("masking").at(0), rng.at("masking").at(1)); }
  // Position and token-type embeddings are lookups (no FLOPs); the word
  // embeddings stay in: they are also the tied output projection.
  int64_t count_parameters(bool non_embedding) const override {
    int64_t n = model_->num_parameters();
    if (non_embedding) n -= (cfg_.max_position_embeddings + cfg_.type_vocab_size) * cfg_.hidden_size;
    return n;
  }
  // As GPT's estimate (PaLM appendix B): 6 N + 12 L H T. Approximate for BERT:
  // N counts the MLM head's transform, applied at every position as the loss
  // sees only the selected ones; attention is bidirectional over all T keys.
  double flops_per_token() const override {
    return 6.0 * static_cast<double>(count_parameters(true)) +
           12.0 * static_cast<double>(cfg_.num_hidden_layers * cfg_.hidden_size * S_);
  }

 private:
  // (B, S - 2) window tokens -> (B, S) [CLS] window [SEP]. The shard window
  // is x's first token followed by y (y = window[1:]).
  Tensor wrap(const text::TokenBatch& b) const {
    const int64_t B = b.x.shape()[0], W = S_ - 2;
    Tensor x = b.x.contiguous(), y = b.y.contiguous();
    const int64_t* px = x.data<int64_t>();
    const int64_t* py = y.data<int64_t>();
    std::vector<int64_t> ids(static_cast<size_t>(B * S_));
    for (int64_t r = 0; r < B; ++r) {
      int64_t* row = ids.data() + r * S_;
      row[0] = cls_;
      row[1] = px[r * (W - 1)];
      for (int64_t j = 0; j < W - 1; ++j) row[2 + j] = py[r * (W - 1) + j];
      row[S_ - 1] = sep_;
    }
    return from_vector(ids, {B, S_});
  }

  models::BertConfig cfg_;
  std::shared_ptr<models::BertForMaskedLM> model_;
  MlmOptions mlm_;
  int64_t S_ = 0, cls_ = 0, sep_ = 0;
  Generator train_masks_, val_masks_;
  uint64_t val_seed_;
};

}  // namespace

std::unique_ptr<LanguageModelObjective> make_masked_objective(const PretrainRecipe& recipe, text::TokenData data,
                                                              const json& model_section,
                                                              const std::string& tokenizer_file) {
  return std::make_unique<MaskedObjective>(recipe, std::move(data), model_section, tokenizer_file);
}

}  // namespace tessera::lm
