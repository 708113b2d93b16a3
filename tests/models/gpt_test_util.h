// The LLaMA-style GPT options the tests switch on together (RMSNorm, rotary
// positions, SwiGLU MLP, no biases); each test keeps its own sizes and extras.
#pragma once
#include "tessera/models/gpt.h"

namespace tessera::test_util {

inline void make_llama_style(models::GPTConfig& c) {
  c.norm = "rmsnorm";
  c.position = "rope";
  c.mlp = "swiglu";
  c.bias = false;
}

}  // namespace tessera::test_util
