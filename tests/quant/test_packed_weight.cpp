// Packed weights (quant/packed_weight.h): llama.cpp's bytes for Q8_0/Q4_0,
// dequantization error bounds, the matmul kernels (vector and scalar paths)
// against float32 products of the dequantized weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "tessera/core/random.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/linalg.h"
#include "tessera/quant/packed_weight.h"

using namespace tessera;
using quant::WeightFormat;

namespace {

Tensor random_matrix(int64_t rows, int64_t cols, uint64_t seed, double std = 1.0) {
  Generator g(seed);
  return randn({rows, cols}, g).mul_(std);
}

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// Restores the vector kernels when a test that forced the scalar ones ends.
struct ScalarKernels {
  explicit ScalarKernels(bool on) { quant::testing::force_scalar_kernels(on); }
  ~ScalarKernels() { quant::testing::force_scalar_kernels(false); }
};

}  // namespace

TEST(QuantHalf, ConvertsLikeIeee) {
  EXPECT_EQ(quant::float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(quant::float_to_half(-2.0f), 0xC000);
  EXPECT_EQ(quant::float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(quant::float_to_half(65520.0f), 0x7C00);           // rounds up to inf
  EXPECT_EQ(quant::float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(quant::float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // a tie: to even
  EXPECT_EQ(quant::float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    ASSERT_EQ(quant::float_to_half(quant::half_to_float(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(QuantPack, BlocksEqualLlamaCppBytes) {
  const std::string path = std::string(TESSERA_TESTS_DIR) + "/fixtures/quant/ggml_blocks.json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  nlohmann::json g = nlohmann::json::parse(in);
  const int64_t rows = g["rows"], cols = g["cols"];
  std::vector<float> v;
  for (double d : g["input"]) v.push_back(static_cast<float>(d));
  Tensor x = from_vector<float>(v, {rows, cols});
  EXPECT_EQ(hex(quant::to_bytes(quant::pack(x, WeightFormat::Q8_0))), g["q8_0"].get<std::string>());
  EXPECT_EQ(hex(quant::to_bytes(quant::pack(x, WeightFormat::Q4_0))), g["q4_0"].get<std::string>());
}

TEST(QuantPack, DequantizationErrorWithinHalfAStep) {
  Tensor w = random_matrix(7, 96, 1, 0.1);
  const float* src = w.data<float>();
  for (WeightFormat f : {WeightFormat::BF16, WeightFormat::Int8, WeightFormat::Q8_0, WeightFormat::Q4_0}) {
    quant::PackedWeight p = quant::pack(w, f);
    EXPECT_EQ(static_cast<int64_t>(quant::to_bytes(p).size()), 7 * quant::row_bytes(f, 96));
    Tensor back = quant::unpack(p);
    const float* b = back.data<float>();
    for (int64_t r = 0; r < 7; ++r)
      for (int64_t blk = 0; blk < 3; ++blk) {
        float amax = 0, rmax = 0;
        for (int64_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[r * 96 + blk * 32 + j]));
        for (int64_t j = 0; j < 96; ++j) rmax = std::max(rmax, std::fabs(src[r * 96 + j]));
        for (int64_t j = 0; j < 32; ++j) {
          const int64_t i = r * 96 + blk * 32 + j;
          const float err = std::fabs(b[i] - src[i]);
          switch (f) {
            case WeightFormat::BF16: EXPECT_LE(err, std::fabs(src[i]) / 256.0f) << i; break;
            case WeightFormat::Int8: EXPECT_LE(err, rmax / 127.0f * 0.5f + 1e-7f) << i; break;
            // d is stored as fp16 (relative error 2^-11, times up to 127 steps).
            case WeightFormat::Q8_0: EXPECT_LE(err, amax / 127.0f * 0.57f + 1e-7f) << i; break;
            // Q4_0 spans [-8d, 7d]: the side opposite the largest value clips at 7 steps.
            default: EXPECT_LE(err, amax / 8.0f * 1.01f + 1e-7f) << i; break;
          }
        }
      }
  }
}

TEST(QuantPack, BytesRoundTripAndBadInput) {
  Tensor w = random_matrix(5, 64, 2);
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Int8, WeightFormat::Q8_0, WeightFormat::Q4_0}) {
    quant::PackedWeight p = quant::pack(w, f);
    const std::string bytes = quant::to_bytes(p);
    quant::PackedWeight q = quant::from_bytes(f, 5, 64, bytes.data(), bytes.size(), p.row_scale.data());
    EXPECT_EQ(quant::to_bytes(q), bytes);
    EXPECT_EQ(test_util::max_abs_diff(quant::unpack(q), quant::unpack(p)), 0.0);
    test_util::expect_error<ShapeError>([&] { quant::from_bytes(f, 5, 64, bytes.data(), bytes.size() - 1, p.row_scale.data()); },
                                        {"5 x 64", quant::format_name(f)});
  }
  test_util::expect_error<ShapeError>([&] { quant::pack(random_matrix(2, 40, 3), WeightFormat::Q4_0); },
                                      {"q4_0", "multiple of 32", "[2, 40]"});
  test_util::expect_error<Error>([] { quant::parse_format("q5_k"); }, {"q5_k", "q4_0"});
  test_util::expect_error<ShapeError>([] { quant::row_bytes(WeightFormat::Q8_0, 33); }, {"33"});
}

// y = x w^T from the packed kernels against the float32 product with the
// dequantized matrix. The integer formats also quantize x to int8 in blocks of
// 32, so they differ by that rounding: bounded by sum |x_j w_j| / 127.
void check_matmul(WeightFormat f, int64_t M, int64_t N, int64_t K, bool scalar) {
  ScalarKernels force(scalar);
  Tensor w = random_matrix(N, K, 10 + N + K, 0.05);
  Tensor x = random_matrix(M, K, 20 + M);
  Tensor bias = random_matrix(1, N, 30).view({N});
  quant::PackedWeight p = quant::pack(w, f);
  Tensor y = quant::linear(x, p, bias);
  Tensor wd = quant::unpack(p);
  Tensor ref = add(matmul(x, wd.transpose(0, 1)), bias);
  Tensor mag = matmul(abs(x), abs(wd).transpose(0, 1));  // sum_j |x_j w_j|
  const float* a = y.data<float>();
  const float* b = ref.data<float>();
  const float* m = mag.data<float>();
  const float tol = f == WeightFormat::BF16 ? 1.0f / 128 : f == WeightFormat::F32 ? 1e-5f : 1.0f / 100;
  for (int64_t i = 0; i < M * N; ++i)
    ASSERT_NEAR(a[i], b[i], tol * m[i] + 1e-5f) << quant::format_name(f) << " M=" << M << " N=" << N << " K=" << K
                                                << " scalar=" << scalar << " at " << i;
}

TEST(QuantMatmul, MatchesDequantizedProductBothPaths) {
  for (bool scalar : {false, true})
    for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Int8, WeightFormat::Q8_0, WeightFormat::Q4_0})
      for (int64_t M : {1, 3, 4, 9})
        for (int64_t K : {64, 96, 160}) check_matmul(f, M, 37, K, scalar);
  // Row lengths that are not whole blocks: bf16 and int8 only.
  for (bool scalar : {false, true})
    for (WeightFormat f : {WeightFormat::BF16, WeightFormat::Int8})
      for (int64_t K : {1, 31, 33, 100}) check_matmul(f, 5, 19, K, scalar);
}

TEST(QuantMatmul, VectorAndScalarPathsAgree) {
  if (!quant::testing::vector_kernels(WeightFormat::Q8_0)) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Q8_0, WeightFormat::Q4_0, WeightFormat::BF16}) {
    Tensor w = random_matrix(40, 128, 5, 0.05), x = random_matrix(6, 128, 6);
    quant::PackedWeight p = quant::pack(w, f);
    Tensor v = quant::linear(x, p);
    Tensor s;
    {
      ScalarKernels force(true);
      s = quant::linear(x, p);
    }
    // The same integer block products; only the float summation order differs.
    EXPECT_LE(test_util::max_abs_diff(v, s), 1e-4) << quant::format_name(f);
  }
}

TEST(QuantMatmul, RefusesGradAndWrongShapes) {
  quant::PackedWeight p = quant::pack(random_matrix(8, 32, 1), WeightFormat::Q8_0);
  Tensor x = random_matrix(2, 32, 2).set_requires_grad(true);
  test_util::expect_error<Error>([&] { quant::linear(x, p); }, {"inference only", "dequantize"});
  test_util::expect_error<ShapeError>([&] { quant::linear(random_matrix(2, 31, 2), p); }, {"[2, 31]", "8 x 32"});
  Tensor ids = from_vector<int64_t>({0, 8}, {2});
  test_util::expect_error<IndexError>([&] { quant::embedding(p, ids); }, {"id 8", "[0, 8)"});
}

TEST(QuantEmbedding, RowsEqualUnpackedRows) {
  Tensor w = random_matrix(10, 64, 4);
  quant::PackedWeight p = quant::pack(w, WeightFormat::Q4_0);
  Tensor rows = quant::embedding(p, from_vector<int64_t>({3, 3, 9, 0}, {2, 2}));
  ASSERT_EQ(rows.shape(), (Shape{2, 2, 64}));
  Tensor all = quant::unpack(p);
  EXPECT_EQ(test_util::max_abs_diff(rows.select(0, 1).select(0, 0), all.select(0, 9)), 0.0);
  EXPECT_EQ(test_util::max_abs_diff(rows.select(0, 0).select(0, 1), all.select(0, 3)), 0.0);
}
