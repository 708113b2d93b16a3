// Language-model evaluation on held-out text (`tessera eval` on a pretraining
// checkpoint): the loss and perplexity of a text file under a checkpoint.
//
// Causal checkpoints (task "language_model", or a Hugging Face GPT-2 folder;
// loaded by checkpoint/language_model.h's load_gpt): the file is encoded with the
// checkpoint's tokenizer (literal special-token strings are text, as in
// `tessera data prepare`), giving n ids. Every id after the first is
// predicted exactly once: window k feeds ids [k*stride, k*stride + seq_len)
// and scores the targets it has not scored before (all of them when stride ==
// seq_len: non-overlapping windows; with a smaller stride, each window after
// the first scores its last `stride` targets with up to seq_len - stride ids
// of extra context, Hugging Face's sliding-window perplexity). The last
// window may be shorter (the partial window is included). loss = mean
// next-token cross-entropy over the n - 1 predicted ids (nats), perplexity =
// exp(loss).
//
// Masked-LM checkpoints (task "masked_language_model", from `tessera pretrain
// --objective mlm`): the ids are cut into non-overlapping windows of seq_len - 2
// ids (the last one partial), each wrapped as [CLS] window [SEP] and masked by
// lm/mlm.h's mask_tokens with the checkpoint's masking options from a
// Generator seeded by `mlm_seed` (the same masks on every call). loss = the
// masked-LM cross-entropy over the selected positions ("mlm_loss"),
// perplexity = exp(mlm_loss) (reported as "exp_mlm_loss": not a true
// perplexity, and not comparable with a causal model's). stride must be 0.
//
// `checkpoint_dir` is any path checkpoint/inspect.h reads (a checkpoint,
// step or run folder, a Hugging Face GPT-2 folder). Errors name the file or folder: not found, an empty
// text file, a text too short to predict one token, a checkpoint of another
// task, seq_len beyond the model's context, stride outside [1, seq_len].
#pragma once
#include <cstdint>
#include <string>

namespace tessera::lm {

struct LmEvalResult {
  std::string task;            // "language_model" | "masked_language_model"
  std::string checkpoint_dir;  // the folder the weights came from
  int64_t tokens = 0;          // ids scored: predicted (causal) or masked positions (MLM)
  int64_t text_tokens = 0;     // ids in the encoded file
  int64_t windows = 0, seq_len = 0, stride = 0;
  double loss = 0, perplexity = 0;  // MLM: mlm_loss and exp(mlm_loss)
  std::string table;  // aligned text for the terminal
  std::string json;   // one JSON object (pretty-printed)
};

// seq_len 0: the model's context (GPT block_size, BERT max_position_embeddings);
// stride 0: seq_len (non-overlapping windows).
LmEvalResult evaluate_lm(const std::string& checkpoint_dir, const std::string& text_file, int64_t seq_len = 0,
                         int64_t batch_size = 8, int64_t stride = 0, uint64_t mlm_seed = 0);

}  // namespace tessera::lm
