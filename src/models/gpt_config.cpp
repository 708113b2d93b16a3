// GPTConfig: JSON round trip and validation (models/gpt.h). JSON is the
// checkpoint form of the architecture, so unknown keys are errors: a typo
// ("n_embed") must not silently fall back to a default (io/json_reader.h).
#include <cmath>

#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "tessera/core/error.h"
#include "tessera/models/gpt.h"

namespace tessera::models {

using nlohmann::json;

int64_t GPTConfig::hidden_dim() const {
  if (mlp_hidden > 0) return mlp_hidden;
  if (mlp == "swiglu") {
    // LLaMA's 2/3 of 4 * n_embd keeps the parameter count of a 4x GELU MLP
    // with three matrices; rounded up to a multiple of 64 for GEMM-friendly sizes.
    const int64_t h = (8 * n_embd + 2) / 3;
    return (h + 63) / 64 * 64;
  }
  return 4 * n_embd;
}

void GPTConfig::validate() const {
  auto positive = [](const char* name, int64_t v) {
    TSR_CHECK(v > 0, Error, "GPTConfig: ", name, " must be positive, got ", v);
  };
  positive("vocab_size", vocab_size);
  positive("block_size", block_size);
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_embd", n_embd);
  TSR_CHECK(n_embd % n_head == 0, Error, "GPTConfig: n_embd (", n_embd, ") must be a multiple of n_head (", n_head,
            ")");
  TSR_CHECK(mlp_hidden >= 0, Error, "GPTConfig: mlp_hidden must be >= 0 (0 = default), got ", mlp_hidden);
  TSR_CHECK(dropout >= 0.0 && dropout < 1.0, Error, "GPTConfig: dropout must be in [0, 1), got ", dropout);
  TSR_CHECK(norm == "layernorm" || norm == "rmsnorm", Error, "GPTConfig: norm must be \"layernorm\" or \"rmsnorm\", got \"",
            norm, "\"");
  TSR_CHECK(position == "learned" || position == "rope", Error,
            "GPTConfig: position must be \"learned\" or \"rope\", got \"", position, "\"");
  TSR_CHECK(mlp == "gelu" || mlp == "swiglu", Error, "GPTConfig: mlp must be \"gelu\" or \"swiglu\", got \"", mlp,
            "\"");
  TSR_CHECK(norm_eps > 0.0, Error, "GPTConfig: norm_eps must be positive, got ", norm_eps);
  if (position == "rope") {
    TSR_CHECK(head_dim() % 2 == 0, Error, "GPTConfig: rope needs an even head dim, got n_embd / n_head = ",
              head_dim());
    TSR_CHECK(rope_theta > 0.0, Error, "GPTConfig: rope_theta must be positive, got ", rope_theta);
  }
}

std::string GPTConfig::to_json() const {
  json j = {{"vocab_size", vocab_size}, {"block_size", block_size}, {"n_layer", n_layer},
            {"n_head", n_head},         {"n_embd", n_embd},         {"dropout", dropout},
            {"bias", bias},             {"norm", norm},             {"position", position},
            {"mlp", mlp},               {"mlp_hidden", mlp_hidden}, {"norm_eps", norm_eps},
            {"rope_theta", rope_theta}, {"tie_embeddings", tie_embeddings}};
  return j.dump(2);
}

GPTConfig GPTConfig::from_json(const std::string& json_text) {
  const json j = io::parse_json(json_text, "GPTConfig: invalid JSON: ");
  TSR_CHECK(j.is_object(), Error, "GPTConfig: expected a JSON object, got ", j.type_name());
  io::JsonReader r(j, "GPTConfig");
  r.known_keys({"vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "norm", "position", "mlp",
                "mlp_hidden", "norm_eps", "rope_theta", "tie_embeddings"});
  GPTConfig c;
  r.read("vocab_size", c.vocab_size);
  r.read("block_size", c.block_size);
  r.read("n_layer", c.n_layer);
  r.read("n_head", c.n_head);
  r.read("n_embd", c.n_embd);
  r.read("dropout", c.dropout);
  r.read("bias", c.bias);
  r.read("norm", c.norm);
  r.read("position", c.position);
  r.read("mlp", c.mlp);
  r.read("mlp_hidden", c.mlp_hidden);
  r.read("norm_eps", c.norm_eps);
  r.read("rope_theta", c.rope_theta);
  r.read("tie_embeddings", c.tie_embeddings);
  c.validate();
  return c;
}

}  // namespace tessera::models
