// CPU kernels for gather / index_select (one kernel pair: index_select is a
// gather with a broadcast index), embedding, and the index range check the
// frontends run first. Every scatter here is race-free by construction (each
// thread owns whole destination lines), so gradients are bit-identical run to
// run.
#include <cstring>
#include <vector>

#include "backends/cpu/loops.h"
#include "kernels/indexing.h"

namespace tessera::cpu {
namespace {

Shape without(const Shape& s, int64_t d) {
  Shape r = s;
  r.erase(r.begin() + d);
  return r;
}

void gather_kernel(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  // x is walked over index's shape with no step along `dim`; the index value
  // supplies that coordinate.
  Shape xs = x.strides();
  xs[dim] = 0;
  const int64_t x_dim_stride = x.stride(dim);
  const int64_t* ip = storage_base<const int64_t>(index);
  dispatch_all(x.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* op = storage_base<T>(out);
    const T* xp = storage_base<const T>(x);
    for_each_strided<3>(index.shape(), {out.strides(), index.strides(), xs}, {out.offset(), index.offset(), x.offset()},
                        [&](int64_t n, std::array<int64_t, 3> o, std::array<int64_t, 3> s) {
                          T* dst = op + o[0];
                          const int64_t* idx = ip + o[1];
                          const T* src = xp + o[2];
                          if (s[1] == 0) {  // one index for the whole run (index_select): a strided row copy
                            src += idx[0] * x_dim_stride;
                            for (int64_t i = 0; i < n; ++i) dst[i * s[0]] = src[i * s[2]];
                          } else {
                            for (int64_t i = 0; i < n; ++i) dst[i * s[0]] = src[i * s[2] + idx[i * s[1]] * x_dim_stride];
                          }
                        });
  });
}

void gather_backward_kernel(const Tensor& gx, const Tensor& g, int64_t dim, const Tensor& index) {
  // Iterate over every coordinate but `dim`; the loop along `dim` stays inside
  // one task, so all writes to one gx line come from one thread, in order.
  const int64_t m = index.size(dim);
  if (m == 0 || index.numel() == 0) return;
  Shape shape = without(index.shape(), dim);
  const int64_t gs = g.stride(dim), is = index.stride(dim), xs = gx.stride(dim);
  const int64_t* ip = storage_base<const int64_t>(index);
  dispatch_floating(gx.dtype(), "gather backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gxp = storage_base<T>(gx);
    const T* gp = storage_base<const T>(g);
    for_each_strided<3>(
        shape, {without(g.strides(), dim), without(index.strides(), dim), without(gx.strides(), dim)},
        {g.offset(), index.offset(), gx.offset()},
        [&](int64_t n, std::array<int64_t, 3> o, std::array<int64_t, 3> s) {
          const T* gsrc = gp + o[0];
          const int64_t* idx = ip + o[1];
          T* dst = gxp + o[2];
          if (s[1] == 0) {  // index constant across the run: sweep rows, inner loop contiguous-friendly
            for (int64_t j = 0; j < m; ++j) {
              T* row = dst + idx[j * is] * xs;
              const T* grow = gsrc + j * gs;
              for (int64_t i = 0; i < n; ++i) row[i * s[2]] += grow[i * s[0]];
            }
          } else {
            for (int64_t i = 0; i < n; ++i)
              for (int64_t j = 0; j < m; ++j) dst[i * s[2] + idx[i * s[1] + j * is] * xs] += gsrc[i * s[0] + j * gs];
          }
        },
        std::max<int64_t>(1, 32768 / m));
  });
}

void embedding_kernel(const Tensor& out, const Tensor& weight, const Tensor& indices) {
  const int64_t n = indices.numel(), D = weight.size(1);
  const int64_t* ip = indices.data<int64_t>();
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(weight.dtype());
  const char* wp = static_cast<const char*>(weight.raw_data());
  char* op = static_cast<char*>(out.raw_data());
  parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(op + i * row_bytes, wp + ip[i] * row_bytes, row_bytes);
  });
}

void embedding_backward_kernel(const Tensor& gw, const Tensor& g, const Tensor& indices, int64_t padding_idx) {
  const int64_t V = gw.size(0), D = gw.size(1), n = indices.numel();
  const int64_t* ip = indices.data<int64_t>();
  // Stable counting sort of positions by index: bucket v holds, in order, the
  // positions i with indices[i] == v.
  std::vector<int64_t> start(V + 1, 0);
  for (int64_t i = 0; i < n; ++i) ++start[ip[i] + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<int64_t> order(n);
  {
    std::vector<int64_t> pos(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[pos[ip[i]]++] = i;
  }
  dispatch_floating(gw.dtype(), "embedding backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gwp = gw.data<T>();
    const T* gp = g.data<T>();
    parallel_for(0, V, std::max<int64_t>(1, 4096 / std::max<int64_t>(D, 1)), [&](int64_t b, int64_t e) {
      std::vector<double> acc(D);  // (D) a row summed in double: repeated tokens lose no precision
      for (int64_t v = b; v < e; ++v) {
        if (v == padding_idx || start[v] == start[v + 1]) continue;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t k = start[v]; k < start[v + 1]; ++k) {
          const T* src = gp + order[k] * D;
          for (int64_t d = 0; d < D; ++d) acc[d] += static_cast<double>(src[d]);
        }
        T* row = gwp + v * D;
        for (int64_t d = 0; d < D; ++d) row[d] = static_cast<T>(acc[d]);
      }
    });
  });
}

IndexRangeViolation index_range_kernel(const Tensor& index, int64_t size, std::optional<int64_t> allowed) {
  // Serial and in order: the first bad entry is the one reported.
  const int64_t* p = index.data<int64_t>();
  for (int64_t i = 0, n = index.numel(); i < n; ++i)
    if ((p[i] < 0 || p[i] >= size) && !(allowed && p[i] == *allowed)) return {i, p[i]};
  return {};
}

}  // namespace

TSR_REGISTER_KERNEL(gather_stub, DeviceType::CPU, &gather_kernel);
TSR_REGISTER_KERNEL(gather_backward_stub, DeviceType::CPU, &gather_backward_kernel);
TSR_REGISTER_KERNEL(embedding_stub, DeviceType::CPU, &embedding_kernel);
TSR_REGISTER_KERNEL(embedding_backward_stub, DeviceType::CPU, &embedding_backward_kernel);
TSR_REGISTER_KERNEL(index_range_stub, DeviceType::CPU, &index_range_kernel);

}  // namespace tessera::cpu
