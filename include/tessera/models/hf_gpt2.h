// Hugging Face GPT-2 checkpoints (a folder with config.json and
// model.safetensors, as save_pretrained writes) to and from Tessera's GPT.
//
// HF GPT-2 stores its projections as Conv1D, weight (in, out); Tessera as
// torch.nn.Linear, (out, in): c_attn, c_proj and c_fc weights are transposed
// on the way in and out. Tensor names may carry the "transformer." prefix
// (GPT2LMHeadModel) or not (GPT2Model, the original "gpt2" files); the
// attention mask buffers some files hold (h.N.attn.bias, h.N.attn.masked_bias)
// are skipped. lm_head.weight, which HF ties to wte and drops when saving, is
// accepted and ignored when tie_word_embeddings is true (as HF does).
#pragma once
#include <memory>
#include <string>

#include "tessera/models/gpt.h"

namespace tessera::models {

// Maps config.json's text to a GPTConfig. Needs model_type "gpt2" (when
// present) and activation_function "gelu_new" / "gelu_pytorch_tanh" (the tanh
// GELU Tessera's GPT uses); resid_pdrop, embd_pdrop and attn_pdrop must be
// equal (Tessera has one dropout rate). Unsupported values (scale_attn_by_
// inverse_layer_idx, cross attention, scale_attn_weights false) are errors
// naming the key; keys that do not change the computation are ignored.
GPTConfig gpt2_config_from_hf(const std::string& config_json_text, const std::string& origin = "config.json");
// The config.json text export_hf_gpt2 writes.
std::string gpt2_config_to_hf(const GPTConfig& config);

// Loads folder/config.json and folder/model.safetensors (F32, BF16 or F64,
// converted to F32). Missing, unexpected and mis-shaped tensors are listed by
// name with the expected and actual shapes.
std::shared_ptr<GPT> load_hf_gpt2(const std::string& folder);

// Writes folder/config.json and folder/model.safetensors (created if needed)
// in GPT2LMHeadModel's layout: "transformer." names, Conv1D weights, no
// lm_head.weight when tied (tie_word_embeddings true), else lm_head.weight.
// Only GPT-2 architectures export: layernorm, learned positions, gelu MLP,
// biases; anything else is an error naming the field.
void export_hf_gpt2(const GPT& model, const std::string& folder);

}  // namespace tessera::models
