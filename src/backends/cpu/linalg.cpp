// CPU kernel for batched matrix products: one GEMM per batch entry, strided
// operands passed as BLAS transposes, broadcast batches by stride-0 offsets.
#include <vector>

#include "backends/cpu/blas.h"
#include "kernels/linalg.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

// Element offset of every matrix of `t` (all dims but the last two), in
// row-major batch order.
std::vector<int64_t> batch_offsets(const Tensor& t, int64_t nb) {
  const int64_t nbd = t.dim() - 2;
  std::vector<int64_t> offs(nb);
  std::vector<int64_t> idx(nbd, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < nb; ++i) {
    offs[i] = off;
    for (int64_t d = nbd - 1; d >= 0; --d) {  // odometer increment
      off += t.stride(d);
      if (++idx[d] < t.size(d)) break;
      off -= t.stride(d) * t.size(d);
      idx[d] = 0;
    }
  }
  return offs;
}

// When every batch entry of row-major `a` (B..., M, K) sits at a fixed row
// spacing, all of them form one (B*M, K) matrix: returns its row stride, else -1.
int64_t folded_row_stride(const Tensor& a) {
  const int64_t K = a.size(-1);
  if (K > 1 && a.stride(-1) != 1) return -1;
  int64_t row = -1, expect = -1;  // stride of the innermost non-1 dim; what the next one out must have
  for (int64_t d = a.dim() - 2; d >= 0; --d) {
    if (a.size(d) == 1) continue;
    if (row < 0) row = a.stride(d);
    else if (a.stride(d) != expect) return -1;
    expect = a.stride(d) * a.size(d);
  }
  if (row < 0) return std::max<int64_t>(1, K);
  return row >= std::max<int64_t>(1, K) ? row : -1;
}

void matmul_kernel(const Tensor& out, const Tensor& a, const Tensor& b, double beta) {
  if (out.numel() == 0) return;
  const int64_t M = out.size(-2), N = out.size(-1), K = a.size(-1);
  const int64_t nb = out.numel() / (M * N);
  const BlasLayout la = blas_layout(a), lb = blas_layout(b);
  TSR_CHECK(la.ok && lb.ok, Error, "matmul kernel: operands ", shape_str(a.shape()), " strides ",
            shape_str(a.strides()), " and ", shape_str(b.shape()), " strides ", shape_str(b.strides()),
            " are not BLAS-readable (the frontend must make them contiguous)");
  bool b_shared = true;
  for (int64_t d = 0; d + 2 < b.dim(); ++d) b_shared = b_shared && (b.size(d) == 1 || b.stride(d) == 0);

  dispatch_floating(out.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = out.data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    // (B..., M, K) @ (K, N), as in a linear layer: one large GEMM beats B small ones.
    if (nb > 1 && b_shared) {
      int64_t lda = folded_row_stride(a);
      if (lda > 0) {
        gemm(false, lb.trans, nb * M, N, K, T(1), pa, lda, pb, lb.ld, T(beta), po, N);
        return;
      }
    }
    const std::vector<int64_t> oa = batch_offsets(a, nb), ob = batch_offsets(b, nb);
    auto run = [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        gemm(la.trans, lb.trans, M, N, K, T(1), pa + oa[i], la.ld, pb + ob[i], lb.ld, T(beta), po + i * M * N, N);
    };
    if (split_batch_over_threads(nb, 2.0 * static_cast<double>(M) * N * K)) parallel_for(0, nb, 1, run);
    else run(0, nb);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(matmul_stub, DeviceType::CPU, &matmul_kernel);

}  // namespace tessera
