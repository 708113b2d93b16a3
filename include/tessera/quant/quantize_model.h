// Quantizing a model's weights for inference, and giving them back.
//
// Which weights: every nn::Linear weight and nn::Embedding weight (by their
// state_dict names, "transformer.h.0.attn.c_attn.weight"), except the names
// in `keep` (GPT keeps its position table in float32) and, for the block
// formats, matrices whose rows are not a whole number of 32-value blocks
// (those stay float32; `skipped` lists them). Biases and norms stay float32,
// as in llama.cpp and CTranslate2. A tied embedding (GPT's wte, also the
// output projection) is one packed matrix serving both.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tessera/nn/module.h"
#include "tessera/quant/packed_weight.h"

namespace tessera::quant {

using PackedMap = std::map<std::string, PackedWeight>;

struct QuantizeResult {
  PackedMap packed;
  std::vector<std::string> skipped;  // left float32: rows not a multiple of 32
};

// Packs the model's (float32) weights; the model is not changed.
QuantizeResult quantize_weights(nn::Module& model, WeightFormat format, const std::set<std::string>& keep = {});

// Hands each packed matrix to the Linear or Embedding owning the parameter of
// that name, checks its shape against the module's, and drops the float32
// weight: the model then runs its forward from the packed weights and its
// state_dict no longer lists them. Throws naming the parameter when no such
// Linear/Embedding weight exists or the shapes differ.
void attach(nn::Module& model, const PackedMap& packed);

// The packed matrices a model holds (by parameter name); empty for a float32 model.
PackedMap packed_weights(nn::Module& model);

// Undoes attach: every packed weight is dequantized back into a float32
// parameter (requires_grad as a fresh parameter) and `packed` is cleared.
void dequantize(nn::Module& model);

// "inference only" check for training entry points: throws naming `what`
// when the model holds packed weights.
void check_trainable(nn::Module& model, const std::string& what);

}  // namespace tessera::quant
