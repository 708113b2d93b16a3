// Matrix products beyond what the parity harness expresses: the GEMM backend
// itself (BLAS edge cases, all transposes, leading dims), the no-copy layout
// rule, determinism, thread paths, and the error messages of bad operands.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/blas.h"
#include "kernels/linalg.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

// C = op(A) op(B) in double, the reference for gemm.
template <typename T>
std::vector<double> naive(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const std::vector<T>& A, int64_t lda,
                          const std::vector<T>& B, int64_t ldb) {
  std::vector<double> C(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k)
        C[i * N + j] += double(ta ? A[k * lda + i] : A[i * lda + k]) * double(tb ? B[j * ldb + k] : B[k * ldb + j]);
  return C;
}

template <typename T>
void check_gemm_all_transposes(double tol) {
  const int64_t M = 37, N = 29, K = 41;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;  // padded leading dims
      std::vector<T> A((ta ? K : M) * lda), B((tb ? N : K) * ldb);
      for (size_t i = 0; i < A.size(); ++i) A[i] = T(std::sin(0.37 * i));
      for (size_t i = 0; i < B.size(); ++i) B[i] = T(std::cos(0.11 * i));
      // beta = 0 must not read C: NaN there must not leak into the result.
      std::vector<T> C(M * ldc, std::numeric_limits<T>::quiet_NaN());
      gemm(ta, tb, M, N, K, T(2), A.data(), lda, B.data(), ldb, T(0), C.data(), ldc);
      std::vector<double> ref = naive(ta, tb, M, N, K, A, lda, B, ldb);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) ASSERT_NEAR(C[i * ldc + j], 2 * ref[i * N + j], tol) << ta << tb << i << j;
      // beta = 1 accumulates; the padding between rows stays untouched.
      gemm(ta, tb, M, N, K, T(1), A.data(), lda, B.data(), ldb, T(1), C.data(), ldc);
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) ASSERT_NEAR(C[i * ldc + j], 3 * ref[i * N + j], tol);
        EXPECT_TRUE(std::isnan(C[i * ldc + N]));
      }
    }
}

}  // namespace

TEST(Gemm, Float32AllTransposes) { check_gemm_all_transposes<float>(1e-3); }
TEST(Gemm, Float64AllTransposes) { check_gemm_all_transposes<double>(1e-10); }

TEST(Gemm, EmptyDims) {
  std::vector<float> C(6, 5.0f);
  gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, C.data(), 3);  // K = 0: C = beta * C
  for (float c : C) EXPECT_EQ(c, 2.5f);
  gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, C.data(), 3);
  for (float c : C) EXPECT_EQ(c, 0.0f);
  gemm(false, false, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 3);  // M = 0: nothing to touch
  std::vector<double> D(2, 1.0);
  gemm(true, true, 2, 1, 0, 1.0, nullptr, 2, nullptr, 1, 0.0, D.data(), 1);
  EXPECT_EQ(D, (std::vector<double>{0.0, 0.0}));
}

TEST(Gemm, BackendIsOneDnn) { EXPECT_NE(std::string(blas_backend_name()).find("oneDNN"), std::string::npos); }

TEST(Linalg, BlasLayoutRule) {
  EXPECT_TRUE(blas_layout(3, 4, 4, 1).ok);  // row-major
  EXPECT_FALSE(blas_layout(3, 4, 4, 1).trans);
  BlasLayout t = blas_layout(3, 4, 1, 3);  // transposed view of a (4, 3) matrix
  EXPECT_TRUE(t.ok && t.trans);
  EXPECT_EQ(t.ld, 3);
  EXPECT_EQ(blas_layout(3, 4, 8, 1).ld, 8);    // a column slice keeps its row stride
  EXPECT_FALSE(blas_layout(3, 4, 8, 2).ok);    // every second element: needs a copy
  EXPECT_FALSE(blas_layout(3, 4, 0, 1).ok);    // broadcast rows
  EXPECT_TRUE(blas_layout(1, 4, 0, 1).ok);     // a size-1 dim's stride does not matter
  EXPECT_TRUE(blas_layout(3, 1, 7, 0).ok);
  EXPECT_EQ(blas_layout(1, 1, 0, 0).ld, 1);
}

TEST(Linalg, MatchesNaiveOnLargerBatchedAndTransposed) {
  Generator gen(7);
  const int saved_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    // (3, 2, 50, 40) @ (2, 40, 30) transposed in storage: batch broadcast + transposes.
    Tensor a = randn({3, 2, 40, 50}, gen).transpose(-1, -2);
    Tensor b = randn({2, 30, 40}, gen).transpose(-1, -2);
    Tensor c = matmul(a, b);
    ASSERT_EQ(c.shape(), (Shape{3, 2, 50, 30}));
    auto av = a.contiguous().to_vector<float>(), bv = b.contiguous().to_vector<float>(), cv = c.to_vector<float>();
    double worst = 0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        std::vector<float> A(av.begin() + (i * 2 + j) * 2000, av.begin() + (i * 2 + j + 1) * 2000);
        std::vector<float> B(bv.begin() + j * 1200, bv.begin() + (j + 1) * 1200);
        auto ref = naive(false, false, 50, 30, 40, A, 40, B, 30);
        for (int64_t k = 0; k < 1500; ++k) worst = std::max(worst, std::abs(ref[k] - cv[(i * 2 + j) * 1500 + k]));
      }
    EXPECT_LT(worst, 1e-4);
  }
  set_num_threads(saved_threads);
}

TEST(Linalg, BitIdenticalRunToRun) {
  Generator gen(3);
  Tensor a = randn({8, 64, 96}, gen), b = randn({96, 80}, gen), c = randn({8, 96, 80}, gen);
  EXPECT_EQ(matmul(a, b).to_vector<float>(), matmul(a, b).to_vector<float>());  // one folded GEMM
  EXPECT_EQ(matmul(a, c).to_vector<float>(), matmul(a, c).to_vector<float>());  // a GEMM per thread
  Tensor big_a = randn({300, 500}, gen), big_b = randn({500, 400}, gen);
  EXPECT_EQ(mm(big_a, big_b).to_vector<float>(), mm(big_a, big_b).to_vector<float>());
}

TEST(Linalg, LinearBackwardSkipsUnneededGradients) {
  Tensor x = ones({2, 3});
  Tensor w = ones({4, 3}).set_requires_grad(true);
  Tensor y = linear(x, w);
  sum(y).backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(w.grad().to_vector<float>(), std::vector<float>(12, 2.0f));
}


TEST(Linalg, ErrorsNameTheOpAndShapes) {
  expect_error<ShapeError>([] { matmul(zeros({2, 3}), zeros({4, 5})); },
                           {"matmul", "[2, 3]", "[4, 5]", "cannot be multiplied"});
  expect_error<ShapeError>([] { matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"});
  expect_error<ShapeError>([] { matmul(zeros({}), zeros({4})); }, {"matmul", "at least 1 dim"});
  expect_error<ShapeError>([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 4})); },
                           {"matmul", "[2, 2, 3]", "[3, 3, 4]", "broadcast"});
  expect_error<DTypeError>([] { matmul(zeros({2, 3}), zeros({3, 4}, {.dtype = DType::F64})); },
                           {"matmul", "float32", "float64"});
  expect_error<DTypeError>([] { matmul(zeros({2, 3}, {.dtype = DType::I64}), zeros({3, 4}, {.dtype = DType::I64})); },
                           {"matmul", "int64"});
  expect_error<ShapeError>([] { mm(zeros({2, 2, 3}), zeros({3, 4})); }, {"mm", "2-D", "[2, 2, 3]"});
  expect_error<ShapeError>([] { bmm(zeros({2, 3}), zeros({2, 3, 4})); }, {"bmm", "3-D"});
  expect_error<ShapeError>([] { bmm(zeros({2, 2, 3}), zeros({3, 3, 4})); }, {"bmm", "batch", "[2, 2, 3]"});
  expect_error<ShapeError>([] { linear(zeros({2, 3}), zeros({4, 5})); }, {"linear", "[2, 3]", "in_features = 5"});
  expect_error<ShapeError>([] { linear(zeros({2, 3}), zeros({3})); }, {"linear", "2-D"});
  expect_error<ShapeError>([] { linear(zeros({2, 3}), zeros({4, 3}), zeros({3})); }, {"linear", "bias", "[4]"});
}
