// Held-out loss and perplexity of a text under a pretraining checkpoint
// (lm/evaluate.h). Windows of equal length are batched; losses are summed in
// double over batches and divided by the number of scored ids, so the result
// does not depend on the batch size beyond float rounding.
#include "tessera/lm/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/error.h"
#include "tessera/checkpoint/inspect.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/io/atomic_file.h"
#include "tessera/lm/mlm.h"
#include "tessera/ops/loss.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::lm {

namespace {

// The held-out text, checked before any model is built (a missing or empty
// text is the likelier mistake).
std::string read_text_file(const std::string& path) {
  TSR_CHECK(fs::is_regular_file(path), Error, "eval: text file not found: '", path, "'");
  std::string s = io::read_file(path, "eval");
  TSR_CHECK(!s.empty(), Error, "eval: text file '", path, "' is empty");
  return s;
}

// Tensor of rows (all the same length) as (B, len) int64.
Tensor stack_rows(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return from_vector(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.front().size())});
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void finish(LmEvalResult& r, const std::string& text_file, json extra) {
  const bool mlm = r.task == "masked_language_model";
  json j = {{"task", r.task},        {"checkpoint", r.checkpoint_dir}, {"text_file", text_file},
            {"text_tokens", r.text_tokens}, {"windows", r.windows},     {"seq_len", r.seq_len}};
  if (mlm) {
    j["masked_tokens"] = r.tokens;
    j["mlm_loss"] = r.loss;
    j["exp_mlm_loss"] = r.perplexity;
  } else {
    j["stride"] = r.stride;
    j["tokens"] = r.tokens;
    j["loss"] = r.loss;
    j["perplexity"] = r.perplexity;
  }
  for (auto& [k, v] : extra.items()) j[k] = v;
  r.json = j.dump(2) + "\n";
  std::string t;
  auto row = [&](const std::string& k, const std::string& v) {
    t += k + std::string(k.size() < 14 ? 14 - k.size() : 1, ' ') + v + "\n";
  };
  row("checkpoint", r.checkpoint_dir);
  row("text", text_file + " (" + std::to_string(r.text_tokens) + " tokens)");
  if (mlm) {
    row("windows", std::to_string(r.windows) + " x [CLS] + up to " + std::to_string(r.seq_len - 2) + " + [SEP]");
    row("masked", std::to_string(r.tokens) + " positions (fixed seed " + extra.at("mask_seed").dump() + ")");
    row("mlm_loss", fmt("%.4f", r.loss));
    row("exp(mlm_loss)", fmt("%.3f", r.perplexity) + " (masked-LM, not a perplexity)");
  } else {
    row("windows", std::to_string(r.windows) + " x up to " + std::to_string(r.seq_len) + " tokens, stride " +
                       std::to_string(r.stride));
    row("predicted", std::to_string(r.tokens) + " tokens");
    row("loss", fmt("%.4f", r.loss) + " nats/token");
    row("perplexity", fmt("%.3f", r.perplexity));
  }
  r.table = t;
}

LmEvalResult eval_causal(const checkpoint::Found& ck, const std::string& text, const std::string& text_file,
                         int64_t seq_len, int64_t batch_size, int64_t stride) {
  checkpoint::LoadedGPT g = checkpoint::load_gpt(ck);
  std::vector<int32_t> ids = g.tokenizer->encode_parallel(text, /*allow_special=*/false);
  // A vocabulary that starts prompts with BOS (LLaMA's) starts the text with it too, as its
  // documents began in training: the first text token is then predicted as well.
  if (const auto bos = g.tokenizer->bos_id(); g.tokenizer->adds_bos() && bos) ids.insert(ids.begin(), *bos);
  const int64_t n = static_cast<int64_t>(ids.size()), block = g.model->config().block_size;
  TSR_CHECK(n >= 2, Error, "eval: '", text_file, "' encodes to ", n, " token(s); at least 2 are needed to predict one");
  const int64_t T = seq_len > 0 ? seq_len : block;
  TSR_CHECK(T <= block, Error, "eval: seq_len ", T, " exceeds the model's block_size ", block, " (", g.checkpoint_dir, ")");
  const int64_t S = stride > 0 ? stride : T;
  TSR_CHECK(S <= T, Error, "eval: stride ", S, " must lie in [1, seq_len ", T, "]");

  // Window k: inputs ids[begin, end), targets ids[begin + 1, end + 1); the
  // targets at window positions >= first were not scored by earlier windows.
  struct Window {
    int64_t begin, len, first;
  };
  std::vector<Window> wins;
  for (int64_t begin = 0, scored_to = 0;; begin += S) {
    int64_t end = std::min(begin + T, n - 1);
    wins.push_back({begin, end - begin, std::max(begin + 1, scored_to + 1) - (begin + 1)});
    scored_to = end;
    if (end == n - 1) break;
  }

  auto& model = *g.model;
  model.eval();
  NoGradGuard no_grad;
  const int64_t V = model.config().vocab_size;
  double sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < wins.size();) {
    size_t j = i;  // [i, j): one batch of windows of one length
    while (j < wins.size() && wins[j].len == wins[i].len && static_cast<int64_t>(j - i) < batch_size) ++j;
    const int64_t len = wins[i].len, B = static_cast<int64_t>(j - i);
    std::vector<std::vector<int64_t>> xs, ys;
    for (size_t k = i; k < j; ++k) {
      const Window& w = wins[k];
      std::vector<int64_t> x(static_cast<size_t>(len)), y(static_cast<size_t>(len));
      for (int64_t p = 0; p < len; ++p) {
        x[static_cast<size_t>(p)] = ids[static_cast<size_t>(w.begin + p)];
        y[static_cast<size_t>(p)] = p >= w.first ? ids[static_cast<size_t>(w.begin + p + 1)] : -100;
      }
      count += len - w.first;
      xs.push_back(std::move(x));
      ys.push_back(std::move(y));
    }
    Tensor logits = model.forward(stack_rows(xs));
    sum += cross_entropy(logits.reshape({B * len, V}), stack_rows(ys).reshape({B * len}), Tensor(), -100, 0.0, "sum")
               .item();
    i = j;
  }
  LmEvalResult r;
  r.task = "language_model";
  r.checkpoint_dir = g.checkpoint_dir;
  r.tokens = count;
  r.text_tokens = n;
  r.windows = static_cast<int64_t>(wins.size());
  r.seq_len = T;
  r.stride = S;
  r.loss = sum / static_cast<double>(count);
  r.perplexity = std::exp(r.loss);
  finish(r, text_file, {{"tokenizer", g.tokenizer_path}});
  return r;
}

LmEvalResult eval_masked(const checkpoint::Found& found, const std::string& text, const std::string& text_file,
                         int64_t seq_len, int64_t batch_size, int64_t stride, uint64_t seed) {
  const std::string& ck = found.dir;
  TSR_CHECK(stride == 0, Error, "eval: stride applies to causal language models; ", ck,
            " is a masked-LM checkpoint (its windows never overlap)");
  checkpoint::LoadedMaskedLM loaded = checkpoint::load_masked_lm(found);
  const auto& model = loaded.model;
  const auto& tok = loaded.tokenizer;
  const std::string& tok_path = loaded.tokenizer_path;
  const models::BertConfig& bc = model->config();
  const json cfg = json::parse(found.config_json);
  auto need = [&](const char* name) {
    auto id = tok->special_id(name);
    TSR_CHECK(id.has_value(), Error, "eval: the tokenizer ", tok_path, " has no ", name, " token");
    return static_cast<int64_t>(*id);
  };
  const int64_t cls = need("[CLS]"), sep = need("[SEP]");
  MlmOptions mo;
  mo.mask_id = need("[MASK]");
  mo.pad_id = need("[PAD]");
  mo.special_ids = {cls, sep, mo.pad_id, mo.mask_id};
  mo.vocab_size = tok->vocab_size();
  if (cfg.contains("mlm") && cfg["mlm"].is_object()) {
    mo.mask_prob = cfg["mlm"].value("mask_prob", mo.mask_prob);
    mo.replace_mask = cfg["mlm"].value("replace_mask", mo.replace_mask);
    mo.replace_random = cfg["mlm"].value("replace_random", mo.replace_random);
  }

  std::vector<int32_t> ids = tok->encode_parallel(text, /*allow_special=*/false);
  const int64_t n = static_cast<int64_t>(ids.size());
  TSR_CHECK(n >= 1, Error, "eval: '", text_file, "' encodes to no tokens");
  const int64_t S = seq_len > 0 ? seq_len : bc.max_position_embeddings;
  TSR_CHECK(S <= bc.max_position_embeddings, Error, "eval: seq_len ", S, " exceeds the model's max_position_embeddings ",
            bc.max_position_embeddings, " (", ck, ")");
  TSR_CHECK(S >= 3, Error, "eval: seq_len must be >= 3 for a masked LM ([CLS] token [SEP]), got ", S);
  const int64_t W = S - 2;

  // Each window is masked alone, in order, so the masks depend on the seed
  // and seq_len only (not on batch_size).
  Generator gen(seed);
  model->eval();
  NoGradGuard no_grad;
  double sum = 0;
  int64_t count = 0, windows = 0;
  std::vector<std::vector<int64_t>> xs, ys;
  auto flush = [&] {
    if (xs.empty()) return;
    const int64_t B = static_cast<int64_t>(xs.size()), L = static_cast<int64_t>(xs.front().size());
    Tensor logits = model->forward(stack_rows(xs), Tensor());
    sum += cross_entropy(logits.reshape({B * L, bc.vocab_size}), stack_rows(ys).reshape({B * L}), Tensor(), -100, 0.0,
                         "sum")
               .item();
    xs.clear(), ys.clear();
  };
  for (int64_t begin = 0; begin < n; begin += W) {
    const int64_t len = std::min(W, n - begin);
    std::vector<int64_t> row;
    row.push_back(cls);
    for (int64_t p = 0; p < len; ++p) row.push_back(ids[static_cast<size_t>(begin + p)]);
    row.push_back(sep);
    MlmBatch m = mask_tokens(from_vector(row, {1, len + 2}), mo, gen);
    count += m.num_selected;
    ++windows;
    if (!xs.empty() && (static_cast<int64_t>(xs.front().size()) != len + 2 || static_cast<int64_t>(xs.size()) == batch_size))
      flush();
    xs.push_back(m.input_ids.to_vector<int64_t>());
    ys.push_back(m.labels.to_vector<int64_t>());
  }
  flush();
  TSR_CHECK(count > 0, Error, "eval: no position of '", text_file, "' (", n,
            " tokens) was selected for masking; use a longer text or another seed");
  LmEvalResult r;
  r.task = "masked_language_model";
  r.checkpoint_dir = ck;
  r.tokens = count;
  r.text_tokens = n;
  r.windows = windows;
  r.seq_len = S;
  r.loss = sum / static_cast<double>(count);
  r.perplexity = std::exp(r.loss);
  finish(r, text_file, {{"tokenizer", tok_path}, {"mask_seed", seed}, {"mask_prob", mo.mask_prob}});
  return r;
}

}  // namespace

LmEvalResult evaluate_lm(const std::string& checkpoint_dir, const std::string& text_file, int64_t seq_len,
                         int64_t batch_size, int64_t stride, uint64_t mlm_seed) {
  TSR_CHECK(seq_len >= 0 && stride >= 0, Error, "eval: seq_len and stride must be >= 0 (0: default), got ", seq_len,
            " and ", stride);
  TSR_CHECK(batch_size > 0, Error, "eval: batch_size must be positive, got ", batch_size);
  const checkpoint::Found ck = checkpoint::inspect(checkpoint_dir);
  std::string text = read_text_file(text_file);
  switch (ck.format) {
    case checkpoint::Format::TesseraMaskedLM:
      return eval_masked(ck, text, text_file, seq_len, batch_size, stride, mlm_seed);
    case checkpoint::Format::TesseraGPT:
    case checkpoint::Format::HfGPT2:
    case checkpoint::Format::Gguf:
      return eval_causal(ck, text, text_file, seq_len, batch_size, stride);
    default:
      throw Error("eval: " + (fs::path(ck.dir) / "config.json").string() + " is " +
                  (ck.task.empty() ? checkpoint::describe(ck.format) : "a \"" + ck.task + "\" checkpoint") +
                  "; language-model evaluation needs task \"language_model\" (tessera pretrain), "
                  "\"masked_language_model\" (tessera pretrain --objective mlm), a Hugging Face GPT-2 folder or a "
                  "GGUF model");
  }
}

}  // namespace tessera::lm
