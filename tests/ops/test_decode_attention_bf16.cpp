// decode_attention over bfloat16 caches: the result equals the same kernel on
// float32 caches that hold the bf16-rounded values (to float rounding, on the
// scalar and on the AVX-512 loops), stays within a stated
// tolerance of float32 caches with the unrounded values, stores the new key
// and value rounded to nearest even, and rejects mixed cache dtypes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "kernels/decode_attention.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

constexpr int64_t H = 2, kMaxLen = 40;

// Runs the scalar bf16 loops for a scope (the vector ones are the default
// where the CPU has AVX-512).
struct ScalarLoops {
  explicit ScalarLoops(bool on) { cpu::testing::decode_attention_force_scalar(on); }
  ~ScalarLoops() { cpu::testing::decode_attention_force_scalar(false); }
};

struct Caches {
  std::vector<Tensor> k, v;  // (1, H, max_len, D) per sequence
  std::vector<const Tensor*> kp, vp;
  void point() {
    kp.clear(), vp.clear();
    for (size_t i = 0; i < k.size(); ++i) kp.push_back(&k[i]), vp.push_back(&v[i]);
  }
};

Caches random_caches(int64_t B, int64_t D) {
  Caches c;
  for (int64_t i = 0; i < B; ++i) c.k.push_back(randn({1, H, kMaxLen, D})), c.v.push_back(randn({1, H, kMaxLen, D}));
  c.point();
  return c;
}

Caches converted(const Caches& src, DType dtype) {
  Caches c;
  for (size_t i = 0; i < src.k.size(); ++i) c.k.push_back(src.k[i].to(dtype)), c.v.push_back(src.v[i].to(dtype));
  c.point();
  return c;
}

// qkv with its k and v parts rounded through bf16, so a float32 cache stores
// what a bf16 cache stores (without rope: the key is stored as given).
Tensor round_kv(const Tensor& qkv, int64_t C) {
  Tensor r = qkv.clone();
  Tensor kv = r.narrow(1, C, 2 * C);
  kv.copy_(kv.to(DType::BF16).to(DType::F32));
  return r;
}

double max_rel(const Tensor& a, const Tensor& b) {
  return max_abs_diff(a, b) / std::max(1e-30, max_abs_diff(b, zeros_like(b)));
}

void check_rounded_equality(int64_t D, bool scalar) {
  ScalarLoops loops(scalar);
  manual_seed(11);
  const std::vector<int64_t> positions = {0, 5, 17, kMaxLen - 1};
  const int64_t B = static_cast<int64_t>(positions.size()), C = H * D;
  Caches f32 = random_caches(B, D);
  Caches bf = converted(f32, DType::BF16);
  Caches rounded = converted(bf, DType::F32);
  Tensor qkv = randn({B, 3 * C});
  Tensor out_bf = empty({B, C}), out_ref = empty({B, C}), out_f32 = empty({B, C});
  decode_attention(out_bf, qkv, bf.kp, bf.vp, positions, H);
  decode_attention(out_ref, round_kv(qkv, C), rounded.kp, rounded.vp, positions, H);
  decode_attention(out_f32, qkv, f32.kp, f32.vp, positions, H);
  const std::string what = std::string(scalar ? "scalar" : "vector") + " loops, D " + std::to_string(D);
  // Not bit for bit even on the scalar loops: the compiler may contract a
  // multiply-add into an FMA in one instantiation and not the other.
  EXPECT_LE(max_rel(out_bf, out_ref), 1e-6) << what;
  // bf16 keeps 8 significant bits (relative rounding <= 2^-9); over unit
  // normal keys, values and queries the outputs move by well under 2e-2.
  const double vs_f32 = max_abs_diff(out_bf, out_f32);
  EXPECT_LT(vs_f32, 2e-2) << what;
  std::printf("[ bf16 KV ] %s: max |bf16 - fp32 caches| = %.3g, relative to rounded fp32 = %.3g\n", what.c_str(),
              vs_f32, max_rel(out_bf, out_ref));
  for (int64_t i = 0; i < B; ++i) {  // the stored rows: the rounded new key and value
    EXPECT_EQ(max_abs_diff(bf.k[i].to(DType::F32), rounded.k[i]), 0.0) << what << ", key cache " << i;
    EXPECT_EQ(max_abs_diff(bf.v[i].to(DType::F32), rounded.v[i]), 0.0) << what << ", value cache " << i;
  }
}

TEST(DecodeAttentionBF16, EqualsFloatCachesOfRoundedValuesScalar) {
  for (int64_t D : {4, 20, 64}) check_rounded_equality(D, true);
}

TEST(DecodeAttentionBF16, EqualsFloatCachesOfRoundedValuesVector) {
  if (!cpu::testing::decode_attention_vector_bf16()) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (int64_t D : {4, 20, 64}) check_rounded_equality(D, false);  // 20: a masked tail after 16 lanes
}

// With rotary tables the stored key is the rotated one, rounded once.
TEST(DecodeAttentionBF16, RotatedKeyIsStoredRounded) {
  manual_seed(12);
  const int64_t D = 20, C = H * D;
  const std::vector<int64_t> positions = {3, 9};
  Caches f32 = random_caches(2, D);
  Caches bf = converted(f32, DType::BF16);
  auto [cos, sin] = rotary_tables(0, kMaxLen, D, 10000.0);
  Tensor qkv = randn({2, 3 * C});
  Tensor out_bf = empty({2, C}), out_f32 = empty({2, C});
  decode_attention(out_bf, qkv, bf.kp, bf.vp, positions, H, cos, sin);
  decode_attention(out_f32, qkv, f32.kp, f32.vp, positions, H, cos, sin);
  for (int64_t i = 0; i < 2; ++i) {
    Tensor want = f32.k[i].narrow(2, positions[i], 1).to(DType::BF16).to(DType::F32);
    EXPECT_EQ(max_abs_diff(bf.k[i].narrow(2, positions[i], 1).to(DType::F32), want), 0.0) << "sequence " << i;
  }
  EXPECT_LT(max_abs_diff(out_bf, out_f32), 2e-2);
}

TEST(DecodeAttentionBF16, RejectsMixedOrWrongCacheDtypes) {
  const int64_t D = 4, C = H * D;
  Caches f32 = random_caches(2, D);
  Caches mixed = f32;
  mixed.k[1] = f32.k[1].to(DType::BF16);
  mixed.point();
  Tensor out = empty({2, C});
  const std::vector<int64_t> positions = {0, 1};
  expect_error<DTypeError>(
      [&] {
        decode_attention(out, randn({2, 3 * C}), mixed.kp, mixed.vp, positions, H);
      },
      "cache of sequence 1 has dtype bfloat16");
  Caches bf = converted(f32, DType::BF16);
  Tensor qkv64 = randn({2, 3 * C}, {.dtype = DType::F64});
  Tensor out64 = empty({2, C}, {.dtype = DType::F64});
  expect_error<DTypeError>([&] { decode_attention(out64, qkv64, bf.kp, bf.vp, positions, H); },
                           "bfloat16 with float32 qkv");
}

}  // namespace
