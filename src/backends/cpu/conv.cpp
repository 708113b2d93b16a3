// CPU convolution: im2col + GEMM per sample and group. The column matrix of a
// sample, (C_in/groups * kH * kW, H_out * W_out), turns the convolution into
// w_g (C_out/groups, C_in/groups * kH * kW) @ col. Samples run one per thread
// when the batch splits well (single-threaded BLAS inside), else one at a time
// on threaded BLAS. A 1x1, stride-1, unpadded convolution uses x as its column
// matrix directly.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/blas.h"
#include "kernels/conv.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

// One sample's group: its C channels of H x W in, H_out x W_out out.
struct Plane {
  int64_t C, H, W, Ho, Wo;
  const Conv2dGeometry* g;
  int64_t L() const { return Ho * Wo; }
  int64_t rows() const { return C * g->kernel[0] * g->kernel[1]; }
  bool is_pointwise() const {
    return g->kernel[0] == 1 && g->kernel[1] == 1 && g->stride[0] == 1 && g->stride[1] == 1 && g->padding[0] == 0 &&
           g->padding[1] == 0;
  }
  // Output columns [lo, hi) whose input column ow * stride - pad + kw * dilation lies inside [0, W).
  void valid_cols(int64_t kw, int64_t* lo, int64_t* hi) const {
    const int64_t s = g->stride[1];
    const int64_t iw0 = kw * g->dilation[1] - g->padding[1];  // input column of ow = 0
    *lo = iw0 >= 0 ? 0 : (-iw0 + s - 1) / s;
    *hi = iw0 > W - 1 ? 0 : std::min(Wo, (W - 1 - iw0) / s + 1);
    *lo = std::min(*lo, *hi);
  }
};

// Grain for parallel_for over channels: enough copying per chunk to pay for a thread.
int64_t channel_grain(const Plane& p) { return std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, p.rows() / p.C * p.L())); }

// col (C*kH*kW, H_out*W_out) <- x (C, H, W), zero where the window is in the padding.
template <typename T>
void im2col(const T* x, const Plane& p, T* col) {
  const int64_t kH = p.g->kernel[0], kW = p.g->kernel[1], L = p.L();
  parallel_for(0, p.C, channel_grain(p), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t kh = 0; kh < kH; ++kh)
        for (int64_t kw = 0; kw < kW; ++kw) {
          T* row = col + ((c * kH + kh) * kW + kw) * L;
          int64_t lo, hi;
          p.valid_cols(kw, &lo, &hi);
          const int64_t iw0 = kw * p.g->dilation[1] - p.g->padding[1];
          for (int64_t oh = 0; oh < p.Ho; ++oh) {
            T* dst = row + oh * p.Wo;
            const int64_t ih = oh * p.g->stride[0] - p.g->padding[0] + kh * p.g->dilation[0];
            if (ih < 0 || ih >= p.H) {
              std::fill(dst, dst + p.Wo, T(0));
              continue;
            }
            const T* src = x + (c * p.H + ih) * p.W;  // input row
            std::fill(dst, dst + lo, T(0));
            if (p.g->stride[1] == 1) {
              if (hi > lo) std::memcpy(dst + lo, src + iw0 + lo, (hi - lo) * sizeof(T));
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[iw0 + ow * p.g->stride[1]];
            }
            std::fill(dst + hi, dst + p.Wo, T(0));
          }
        }
  });
}

// x (C, H, W) += adjoint of im2col applied to col; x must be zeroed by the caller.
template <typename T>
void col2im(const T* col, const Plane& p, T* x) {
  const int64_t kH = p.g->kernel[0], kW = p.g->kernel[1], L = p.L();
  // Channels write disjoint planes; within one, the (kh, kw, oh, ow) order is fixed.
  parallel_for(0, p.C, channel_grain(p), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t kh = 0; kh < kH; ++kh)
        for (int64_t kw = 0; kw < kW; ++kw) {
          const T* row = col + ((c * kH + kh) * kW + kw) * L;
          int64_t lo, hi;
          p.valid_cols(kw, &lo, &hi);
          const int64_t iw0 = kw * p.g->dilation[1] - p.g->padding[1];
          for (int64_t oh = 0; oh < p.Ho; ++oh) {
            const int64_t ih = oh * p.g->stride[0] - p.g->padding[0] + kh * p.g->dilation[0];
            if (ih < 0 || ih >= p.H) continue;
            T* dst = x + (c * p.H + ih) * p.W;  // input row
            const T* src = row + oh * p.Wo;
            for (int64_t ow = lo; ow < hi; ++ow) dst[iw0 + ow * p.g->stride[1]] += src[ow];
          }
        }
  });
}

Plane make_plane(const Tensor& x, const Tensor& w, int64_t Ho, int64_t Wo, const Conv2dGeometry& geo) {
  return Plane{w.size(1), x.size(2), x.size(3), Ho, Wo, &geo};
}

void conv2d_kernel(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dGeometry& geo) {
  const int64_t N = x.size(0), Cin = x.size(1), Cout = out.size(1), G = geo.groups;
  const Plane p = make_plane(x, w, out.size(2), out.size(3), geo);
  const int64_t Og = Cout / G, KK = p.rows(), L = p.L();
  if (out.numel() == 0) return;
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.data<T>();
    const bool pointwise = p.is_pointwise();
    auto run = [&](int64_t n0, int64_t n1) {
      std::vector<T> col(pointwise ? 0 : KK * L);  // (KK, L)
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t g = 0; g < G; ++g) {
          const T* xg = px + (n * Cin + g * p.C) * p.H * p.W;  // (C_g, H, W)
          T* og = po + (n * Cout + g * Og) * L;                // (O_g, L)
          if (!pointwise) im2col(xg, p, col.data());
          if (pb)  // GEMM accumulates onto the bias
            for (int64_t o = 0; o < Og; ++o) std::fill(og + o * L, og + (o + 1) * L, pb[g * Og + o]);
          gemm(false, false, Og, L, KK, T(1), pw + g * Og * KK, KK, pointwise ? xg : col.data(), L, T(pb ? 1 : 0), og,
               L);
        }
    };
    if (split_batch_over_threads(N, 2.0 * Cout * KK * L)) parallel_for(0, N, 1, run);
    else run(0, N);
  });
}

void conv2d_backward_kernel(const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                            const Tensor& w, const Conv2dGeometry& geo) {
  const int64_t N = x.size(0), Cin = x.size(1), Cout = grad_out.size(1), G = geo.groups;
  const Plane p = make_plane(x, w, grad_out.size(2), grad_out.size(3), geo);
  const int64_t Og = Cout / G, KK = p.rows(), L = p.L();
  dispatch_floating(x.dtype(), "conv2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pg = grad_out.data<T>();
    T* pgx = grad_x.defined() ? grad_x.data<T>() : nullptr;
    const bool pointwise = p.is_pointwise();
    const int64_t wsize = w.numel();
    // Each chunk of samples sums its weight gradient into its own buffer; the
    // buffers are added in chunk order, so the result depends only on the thread count.
    const bool split = split_batch_over_threads(N, 4.0 * Cout * KK * L);
    const int64_t chunks = split ? std::min<int64_t>(N, get_num_threads()) : 1;
    std::vector<std::vector<T>> partial(grad_w.defined() ? chunks : 0, std::vector<T>(wsize, T(0)));
    auto run = [&](int64_t c0, int64_t c1) {
      std::vector<T> col(pointwise ? 0 : KK * L);  // (KK, L)
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = c * N / chunks; n < (c + 1) * N / chunks; ++n) {
          if (pgx && !pointwise) std::fill(pgx + n * Cin * p.H * p.W, pgx + (n + 1) * Cin * p.H * p.W, T(0));
          for (int64_t g = 0; g < G; ++g) {
            const T* gg = pg + (n * Cout + g * Og) * L;  // (O_g, L)
            const T* wg = pw + g * Og * KK;              // (O_g, KK)
            const int64_t xoff = (n * Cin + g * p.C) * p.H * p.W;
            if (!partial.empty()) {  // dW_g += grad_out_g (O_g, L) @ col^T (L, KK)
              if (!pointwise) im2col(px + xoff, p, col.data());
              gemm(false, true, Og, KK, L, T(1), gg, L, pointwise ? px + xoff : col.data(), L, T(1),
                   partial[c].data() + g * Og * KK, KK);
            }
            if (pgx) {  // dcol (KK, L) = w_g^T (KK, O_g) @ grad_out_g (O_g, L), then back to image layout
              if (pointwise) {
                gemm(true, false, KK, L, Og, T(1), wg, KK, gg, L, T(0), pgx + xoff, L);
              } else {
                gemm(true, false, KK, L, Og, T(1), wg, KK, gg, L, T(0), col.data(), L);
                col2im(col.data(), p, pgx + xoff);  // accumulates: overlapping windows
              }
            }
          }
        }
    };
    if (split) parallel_for(0, chunks, 1, run);
    else run(0, chunks);
    if (grad_w.defined()) {
      T* pgw = grad_w.data<T>();
      std::copy(partial[0].begin(), partial[0].end(), pgw);
      for (int64_t c = 1; c < chunks; ++c)
        for (int64_t i = 0; i < wsize; ++i) pgw[i] += partial[c][i];
    }
  });
}

}  // namespace

TSR_REGISTER_KERNEL(conv2d_stub, DeviceType::CPU, &conv2d_kernel);
TSR_REGISTER_KERNEL(conv2d_backward_stub, DeviceType::CPU, &conv2d_backward_kernel);

}  // namespace tessera
