// decode_attention: one cached attention step for sequences at different
// positions equals scaled_dot_product_attention over each sequence's keys
// (rotated with rotary_embedding when tables are given), stores the new key
// and value in the caches, allocates no tensor, and rejects bad buffers with
// errors that name them.
#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

constexpr int64_t H = 2, D = 4, C = H * D, kMaxLen = 8;

struct Batch {
  std::vector<int64_t> positions;
  Tensor qkv;                      // (B, 3C)
  std::vector<Tensor> k, v;        // (1, H, max_len, D) per sequence
  std::vector<Tensor> k0, v0;      // copies before the step
  std::vector<const Tensor*> kp, vp;
};

Batch make_batch(std::vector<int64_t> positions) {
  Batch b;
  b.positions = positions;
  const int64_t B = static_cast<int64_t>(positions.size());
  b.qkv = randn({B, 3 * C});
  for (int64_t i = 0; i < B; ++i) {
    b.k.push_back(randn({1, H, kMaxLen, D}));
    b.v.push_back(randn({1, H, kMaxLen, D}));
    b.k0.push_back(b.k.back().clone());
    b.v0.push_back(b.v.back().clone());
  }
  for (int64_t i = 0; i < B; ++i) {
    b.kp.push_back(&b.k[i]);
    b.vp.push_back(&b.v[i]);
  }
  return b;
}

// Sequence i's step through the public ops: rotate, append, attend.
void expect_matches_reference(const Batch& b, const Tensor& out, const Tensor& cos, const Tensor& sin) {
  for (size_t i = 0; i < b.positions.size(); ++i) {
    const int64_t pos = b.positions[i];
    Tensor row = b.qkv.select(0, static_cast<int64_t>(i));
    auto heads = [&](int64_t part) { return row.narrow(0, part * C, C).view({1, H, 1, D}); };
    Tensor q = heads(0), k = heads(1), v = heads(2);
    if (cos.defined()) {
      q = rotary_embedding(q, cos.narrow(0, pos, 1), sin.narrow(0, pos, 1));
      k = rotary_embedding(k, cos.narrow(0, pos, 1), sin.narrow(0, pos, 1));
    }
    Tensor keys = cat({b.k0[i].narrow(2, 0, pos), k}, 2), values = cat({b.v0[i].narrow(2, 0, pos), v}, 2);
    Tensor ref = scaled_dot_product_attention(q, keys, values).reshape({C});
    EXPECT_LT(max_abs_diff(out.select(0, static_cast<int64_t>(i)), ref), 1e-6) << "sequence " << i;
    EXPECT_EQ(max_abs_diff(b.k[i].narrow(2, pos, 1), k), 0.0) << "new key of sequence " << i;
    EXPECT_EQ(max_abs_diff(b.v[i].narrow(2, pos, 1), v), 0.0) << "new value of sequence " << i;
    EXPECT_EQ(max_abs_diff(b.k[i].narrow(2, 0, pos), b.k0[i].narrow(2, 0, pos)), 0.0) << "old keys of " << i;
  }
}

}  // namespace

TEST(DecodeAttention, MatchesAttentionOverEachSequencesCache) {
  manual_seed(3);
  Batch b = make_batch({0, 2, 5});
  Tensor out = empty({3, C});
  decode_attention(out, b.qkv, b.kp, b.vp, b.positions, H);
  expect_matches_reference(b, out, Tensor(), Tensor());
}

TEST(DecodeAttention, RotatesQueryAndKeyWithRope) {
  manual_seed(4);
  Batch b = make_batch({7, 1, 3, 0});
  auto [cos, sin] = rotary_tables(0, kMaxLen, D);
  Tensor out = empty({4, C});
  decode_attention(out, b.qkv, b.kp, b.vp, b.positions, H, cos, sin);
  expect_matches_reference(b, out, cos, sin);
}

TEST(DecodeAttention, AllocatesNoTensor) {
  manual_seed(5);
  Batch b = make_batch({4, 6});
  auto [cos, sin] = rotary_tables(0, kMaxLen, D);
  Tensor out = empty({2, C});
  const uint64_t before = allocator_for(cpu_device()).stats().allocs;
  decode_attention(out, b.qkv, b.kp, b.vp, b.positions, H, cos, sin);
  EXPECT_EQ(allocator_for(cpu_device()).stats().allocs, before);
}

TEST(DecodeAttention, BadBuffersAreNamedErrors) {
  manual_seed(6);
  Batch b = make_batch({1, 2});
  Tensor out = empty({2, C});
  std::vector<const Tensor*> shared{&b.k[0], &b.k[0]};
  expect_error<Error>([&] { decode_attention(out, b.qkv, shared, b.vp, b.positions, H); },
                      {"decode_attention", "share one key cache"});
  std::vector<int64_t> past_end{1, kMaxLen};
  expect_error<IndexError>([&] { decode_attention(out, b.qkv, b.kp, b.vp, past_end, H); },
                           {"decode_attention", "position 8", "sequence 1"});
  expect_error<ShapeError>([&] { decode_attention(out, b.qkv, b.kp, b.vp, b.positions, 3); },
                           {"decode_attention", "(B, 3 * H * D)"});
  expect_error<ShapeError>([&] { decode_attention(empty({2, C + 1}), b.qkv, b.kp, b.vp, b.positions, H); },
                           {"decode_attention", "out must have shape"});
  auto [cos, sin] = rotary_tables(0, 2, D);  // rows for positions 0 and 1 only
  expect_error<ShapeError>([&] { decode_attention(out, b.qkv, b.kp, b.vp, b.positions, H, cos, sin); },
                           {"decode_attention", "rope tables"});
  expect_error<Error>([&] { decode_attention(out, b.qkv, b.kp, b.vp, b.positions, H, cos, Tensor()); },
                      {"decode_attention", "both"});
  Tensor wide = randn({2, 3 * C}, {.dtype = DType::F64});
  expect_error<DTypeError>([&] { decode_attention(out, wide, b.kp, b.vp, b.positions, H); },
                           {"decode_attention", "dtype"});
}
