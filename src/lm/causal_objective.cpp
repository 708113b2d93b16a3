// Causal language modeling (lm/pretrain.h, objective "causal"): a GPT
// predicts every next token of seq_len-token windows.
#include "lm/lm_objective.h"
#include "tessera/models/gpt.h"
#include "tessera/ops/loss.h"

using nlohmann::json;

namespace tessera::lm {

namespace {

class CausalObjective : public LanguageModelObjective {
 public:
  CausalObjective(const PretrainRecipe& recipe, text::TokenData data, const json& model_section)
      : LanguageModelObjective(recipe, std::move(data)) {
    cfg_ = models::GPTConfig::from_json(model_section.dump());
    T_ = recipe.seq_len > 0 ? recipe.seq_len : cfg_.block_size;
    TSR_CHECK(T_ <= cfg_.block_size, Error, "recipe: train.seq_len ", T_, " exceeds model.block_size ",
              cfg_.block_size);
    model_ = std::make_shared<models::GPT>(cfg_, recipe.seed);
  }
  nn::Module& module() override { return *model_; }

 protected:
  Generator& dropout_generator() override { return model_->dropout_generator(); }
  const char* label() const override { return "GPT"; }
  std::string task() const override { return "language_model"; }
  json model_json() const override { return json::parse(cfg_.to_json()); }
  int64_t window() const override { return T_; }
  int64_t positions() const override { return T_; }
  Tensor batch_loss(const text::TokenBatch& b, bool) override {
    const int64_t B = b.x.shape()[0];
    Tensor logits = model_->forward(b.x);  // (B, T, V)
    return cross_entropy(logits.reshape({B * T_, cfg_.vocab_size}), b.y.reshape({B * T_}));
  }
  int64_t count_parameters(bool non_embedding) const override { return model_->count_parameters(non_embedding); }
  double flops_per_token() const override { return model_->flops_per_token(T_); }

 private:
  models::GPTConfig cfg_;
  std::shared_ptr<models::GPT> model_;
  int64_t T_ = 0;
};

}  // namespace

std::unique_ptr<LanguageModelObjective> make_causal_objective(const PretrainRecipe& recipe, text::TokenData data,
                                                              const json& model_section) {
  return std::make_unique<CausalObjective>(recipe, std::move(data), model_section);
}

}  // namespace tessera::lm
