// Decoding allocates no memory from the system per token (issue 15): after a
// first step of a batch size, GPT::decode_step's tensors all come from the
// caching allocator's free lists (core/allocator.h), whatever the cache
// lengths, for the GPT-2 and the LLaMA-style blocks, with float32 and with
// bfloat16 caches.
#include <gtest/gtest.h>

#include <vector>

#include "models/gpt_test_util.h"
#include "tessera/core/allocator.h"
#include "tessera/core/tensor.h"
#include "tessera/models/gpt.h"

namespace tessera::models {
namespace {

void check_steady_decode(bool llama, DType dtype = DType::F32) {
  GPTConfig c;
  c.vocab_size = 50;
  c.block_size = 64;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  if (llama) {
    test_util::make_llama_style(c);
  }
  GPT m(c, 3);
  m.eval();
  std::vector<KVCache> caches;
  std::vector<KVCache*> ptrs;
  for (int64_t b = 0; b < 3; ++b) caches.push_back(m.make_cache(1, c.block_size, dtype));
  for (auto& kv : caches) ptrs.push_back(&kv);
  const std::vector<int32_t> tokens = {1, 7, 42};
  // Blocks another test left in the free lists would hide an allocation that
  // grows with the cache; start from none. The first step fills them.
  Allocator& a = allocator_for(cpu_device());
  a.empty_cache();
  m.decode_step(tokens, ptrs);
  m.decode_step(tokens, ptrs);
  const uint64_t before = a.stats().system_allocs;
  for (int step = 0; step < 20; ++step) m.decode_step(tokens, ptrs);
  EXPECT_EQ(a.stats().system_allocs, before) << (llama ? "llama" : "gpt-2") << " blocks, " << dtype_name(dtype) << " cache";
}

TEST(GPTDecodeAllocations, SteadyDecodeReachesNoSystemAllocator) { check_steady_decode(false); }
TEST(GPTDecodeAllocations, SteadyDecodeReachesNoSystemAllocatorLlama) { check_steady_decode(true); }
TEST(GPTDecodeAllocations, SteadyDecodeReachesNoSystemAllocatorBF16Cache) {
  check_steady_decode(false, DType::BF16);
  check_steady_decode(true, DType::BF16);
}

}  // namespace
}  // namespace tessera::models
