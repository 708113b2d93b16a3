// `tessera pretrain`: a recipe (examples/gpt_*.json; examples/bert_mlm_*.json
// with --objective mlm) + token shards from `tessera data prepare` ->
// lm::pretrain (lm/pretrain.h).
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli_common.h"
#include "tessera/lm/pretrain.h"
#include "tessera/text/shards.h"
#include "tessera/text/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::cli {
namespace {

struct PretrainArgs {
  std::string config, data, out, tokenizer, objective;
  RecipeOverrides overrides;
  std::optional<int64_t> eval_every;
  std::optional<double> peak_flops;
  RunControl run;
};

int run_pretrain(const PretrainArgs& a) {
  json cfg = read_config(a.config);
  // Flags override the recipe; the effective recipe is what checkpoints and summary.json record.
  apply_recipe_overrides(a.overrides, cfg);
  if (a.eval_every) cfg["train"]["eval_every"] = *a.eval_every;
  if (a.peak_flops) cfg["train"]["peak_flops"] = *a.peak_flops;
  if (!a.objective.empty()) cfg["objective"] = a.objective;
  lm::PretrainOptions o;
  o.resume = a.run.resume;
  o.quiet = a.run.quiet;
  o.stop_after_steps = a.run.stop_after;
  RunProfile profile(a.run);
  o.hooks = profile.hooks();
  if (!a.tokenizer.empty()) {
    // Its canonical form goes beside the run; its fingerprint must match the shards'.
    auto tok = text::load_tokenizer(a.tokenizer);
    std::error_code ec;
    fs::create_directories(a.out, ec);
    o.tokenizer_file = (fs::path(a.out) / "tokenizer.json").string();
    tok->save(o.tokenizer_file);
    o.tokenizer_fingerprint = text::tokenizer_fingerprint(*tok);
  }
  auto res = lm::pretrain(cfg.dump(), a.data, a.out, o);
  profile.finish();
  if (res.stop_reason == "interrupted") {
    print_stopped(a.out, res.steps);
  } else {
    std::cout << "pretraining finished (" << res.steps << " steps, train loss " << res.train_loss;
    if (res.val_loss) std::cout << ", val loss " << *res.val_loss;
    std::cout << "); summary: " << (fs::path(a.out) / "summary.json").string() << "\n";
  }
  return 0;
}

}  // namespace

Command add_pretrain_command(CLI::App& app) {
  auto a = std::make_shared<PretrainArgs>();
  auto* p = app.add_subcommand("pretrain",
                               "Pretrain a GPT (causal LM) or a BERT (masked LM) on token shards (see examples/gpt_*.json, "
                               "examples/bert_mlm_*.json)");
  p->add_option("-c,--config", a->config, "recipe file (JSON)")->required();
  p->add_option("-d,--data", a->data, "token shard folder from `tessera data prepare`")->required();
  p->add_option("-o,--out", a->out, "output folder: metrics.jsonl, summary.json, checkpoints/")->required();
  p->add_option("--tokenizer", a->tokenizer,
                "tokenizer to record in checkpoints (default: the data folder's tokenizer.json); must match the shards");
  p->add_option("--objective", a->objective,
                "override the recipe's objective: causal (a GPT, next-token prediction) or mlm (a BERT, masked LM; "
                "the model section is a BertConfig and the tokenizer needs [CLS] [SEP] [MASK] [PAD])")
      ->check(CLI::IsMember({"causal", "mlm"}));
  add_recipe_overrides(p, a->overrides);
  p->add_option("--eval-every", a->eval_every, "override train.eval_every");
  p->add_option("--peak-flops", a->peak_flops, "peak FLOP/s for the MFU estimate (default: this machine's measured peak, see `tessera info`)");
  add_run_control(p, a->run);
  return {p, [a] { return run_pretrain(*a); }};
}

}  // namespace tessera::cli
