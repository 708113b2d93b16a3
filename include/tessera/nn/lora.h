// LoRA adapters over a model's Linear layers (PEFT's LoraConfig / get_peft_model
// for nn.Linear targets). The layer side is nn::Linear::enable_lora (layers.h);
// this header picks the layers by name, freezes the rest, and saves or merges
// the adapters.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/nn/module.h"

namespace tessera::nn {

struct LoraOptions {
  int64_t rank = 8;
  double alpha = 16;     // the update is scaled by alpha / rank
  double dropout = 0.0;  // on the adapter's input only
  // A Linear is adapted when its path (relative to the root) equals a target
  // or ends with "." + target: "query", "value", "c_attn", "attention.output.dense".
  std::vector<std::string> targets;
};

// Enables LoRA on every matching Linear, in registration order, drawing the A
// matrices from a Generator seeded by `seed`. Returns the adapted paths. No
// match (or no targets) is an error listing the Linear layers there are.
// Freezes nothing: see mark_only_lora_trainable.
std::vector<std::string> apply_lora(Module& root, const LoraOptions& options, uint64_t seed);

// requires_grad = false for every parameter except the adapters' (a
// "lora_A"/"lora_B" name component) and those whose name starts with one of
// also_trainable_prefixes (e.g. "head." for a new classification head).
void mark_only_lora_trainable(Module& root, const std::vector<std::string>& also_trainable_prefixes = {});

// The adapter tensors only ("<path>.lora_A.weight", "<path>.lora_B.weight").
StateDict lora_state_dict(const Module& root);

// Folds every adapter into its base weight and removes it: the state_dict has
// the base model's names again. Returns how many layers were merged.
int64_t merge_all_lora(Module& root);

}  // namespace tessera::nn
