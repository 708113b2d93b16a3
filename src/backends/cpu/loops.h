// Strided loops for CPU kernels. for_each_strided walks N operands that share
// a logical shape but have their own element strides (0 for broadcast dims):
// dims are coalesced first, then the innermost run is handed to `inner` so the
// kernel can branch once to a contiguous, vectorizable loop.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "tessera/core/parallel.h"
#include "tessera/core/tensor.h"

namespace tessera::cpu {

// The start of t's storage: for_each_strided's offsets are relative to it.
template <typename T>
T* storage_base(const Tensor& t) {
  return static_cast<T*>(t.storage()->data());
}

template <size_t N>
struct StridedLayout {
  Shape shape;                          // coalesced, outermost first
  std::array<Shape, N> strides;         // per operand, same rank as shape
};

// Drop size-1 dims and merge dims that are contiguous with each other in every operand.
template <size_t N>
StridedLayout<N> coalesce(const Shape& shape, const std::array<Shape, N>& strides) {
  StridedLayout<N> out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!out.shape.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k)
        if (out.strides[k].back() != strides[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        out.shape.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) out.strides[k].back() = strides[k][d];
        continue;
      }
    }
    out.shape.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) out.strides[k].push_back(strides[k][d]);
  }
  if (out.shape.empty()) {  // a scalar or all-ones shape: one element
    out.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) out.strides[k].push_back(0);
  }
  return out;
}

// inner(n, offsets, inner_strides): process n elements starting at element
// offsets[k] of operand k, stepping inner_strides[k]. Parallel over outer rows
// with a static split; each element is written by exactly one thread.
template <size_t N, typename F>
void for_each_strided(const Shape& shape, const std::array<Shape, N>& strides, const std::array<int64_t, N>& base,
                      F&& inner, int64_t grain = 32768) {
  int64_t numel = shape_numel(shape);
  if (numel == 0) return;
  StridedLayout<N> L = coalesce<N>(shape, strides);
  const int64_t nd = static_cast<int64_t>(L.shape.size());
  const int64_t inner_n = L.shape[nd - 1];
  std::array<int64_t, N> inner_s;
  for (size_t k = 0; k < N; ++k) inner_s[k] = L.strides[k][nd - 1];
  const int64_t outer = numel / inner_n;
  if (nd == 1) {
    // Fully coalesced (e.g. contiguous operands): split the single run itself.
    parallel_for(0, inner_n, grain, [&](int64_t begin, int64_t end) {
      std::array<int64_t, N> off;
      for (size_t k = 0; k < N; ++k) off[k] = base[k] + begin * inner_s[k];
      inner(end - begin, off, inner_s);
    });
    return;
  }
  int64_t row_grain = std::max<int64_t>(1, grain / std::max<int64_t>(inner_n, 1));
  parallel_for(0, outer, row_grain, [&](int64_t begin, int64_t end) {
    // Multi-index of row `begin` over the outer dims.
    std::vector<int64_t> idx(nd > 1 ? nd - 1 : 0, 0);
    int64_t r = begin;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = r % L.shape[d];
      r /= L.shape[d];
    }
    std::array<int64_t, N> off;
    for (size_t k = 0; k < N; ++k) {
      off[k] = base[k];
      for (int64_t d = 0; d < nd - 1; ++d) off[k] += idx[d] * L.strides[k][d];
    }
    for (int64_t row = begin; row < end; ++row) {
      inner(inner_n, off, inner_s);
      // Advance the outer multi-index by one.
      for (int64_t d = nd - 2; d >= 0; --d) {
        ++idx[d];
        for (size_t k = 0; k < N; ++k) off[k] += L.strides[k][d];
        if (idx[d] < L.shape[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= L.strides[k][d] * L.shape[d];
        idx[d] = 0;
      }
    }
  });
}

// Strides of `t` seen through a broadcast to `shape` (0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& shape);

}  // namespace tessera::cpu
