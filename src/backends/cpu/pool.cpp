// CPU max and average pooling over (P, H, W) planes, one plane per work item.
// Window rules follow PyTorch's CPU kernels exactly: a max window propagates
// NaN, an average window is clipped to the padded input for its divisor and
// to the input for its sum, and a window entirely in the padding gives 0.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/pool.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

int64_t plane_grain(int64_t work_per_plane) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, work_per_plane)); }

// Every window inside the input (no padding, no ceil_mode overhang): the CNN
// case. The loop runs over window offsets, and inside over all outputs of a
// plane, each reading its input through a per-plane offset table (a gather):
// the comparison is then a select across independent outputs, which GCC
// vectorizes. The per-window loop below compiled that data-dependent
// comparison into branches that random activations mispredicted, a third of
// the Fashion-MNIST CNN's step at 1 thread; over one output row (7 or 14
// wide) the vector loop would not even start. Each output visits its window
// row by row, left to right, as the general loop does, so ties and NaNs
// resolve the same way (first maximum kept, a later NaN replaces an earlier one).
bool windows_inside(const Pool2dGeometry& g, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  return g.padding[0] == 0 && g.padding[1] == 0 && (Ho - 1) * g.stride[0] + (g.kernel[0] - 1) * g.dilation[0] < H &&
         (Wo - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] < W;
}

template <typename T>
void max_pool2d_inside(T* po, int64_t* pi, const T* px, int64_t P, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                       const Pool2dGeometry& g) {
  const int64_t L = Ho * Wo;
  std::vector<int64_t> start(L);  // (H_out * W_out) flat input index of each window's top-left
  for (int64_t oh = 0; oh < Ho; ++oh)
    for (int64_t ow = 0; ow < Wo; ++ow) start[oh * Wo + ow] = oh * g.stride[0] * W + ow * g.stride[1];
  const int64_t kh_n = g.kernel[0], kw_n = g.kernel[1], dh = g.dilation[0], dw = g.dilation[1];
  const int64_t* st = start.data();
  parallel_for(0, P, plane_grain(L * kh_n * kw_n), [=](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* __restrict xp = px + p * H * W;  // (H, W)
      T* __restrict best = po + p * L;          // (H_out * W_out) running max
      int64_t* __restrict best_i = pi + p * L;  // its flat input index
#pragma omp simd
      for (int64_t o = 0; o < L; ++o) {
        best[o] = xp[st[o]];
        best_i[o] = st[o];
      }
      for (int64_t kh = 0; kh < kh_n; ++kh)
        for (int64_t kw = 0; kw < kw_n; ++kw) {
          if (kh == 0 && kw == 0) continue;  // the initial value
          const int64_t off = kh * dh * W + kw * dw;
#pragma omp simd
          for (int64_t o = 0; o < L; ++o) {
            const int64_t i = st[o] + off;
            const T v = xp[i];
            const T b = best[o];
            const bool take = (v > b) | (v != v);
            best[o] = take ? v : b;
            best_i[o] = take ? i : best_i[o];
          }
        }
    }
  });
}

void max_pool2d_kernel(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dGeometry& g) {
  const int64_t P = x.size(0), H = x.size(1), W = x.size(2), Ho = out.size(1), Wo = out.size(2);
  if (Ho * Wo > 0 && windows_inside(g, H, W, Ho, Wo)) {
    dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      max_pool2d_inside(out.data<T>(), indices.data<int64_t>(), x.data<T>(), P, H, W, Ho, Wo, g);
    });
    return;
  }
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* po = out.data<T>();
    int64_t* pi = indices.data<int64_t>();
    // Column range of each output column's window, clipped to the input: the same for every row and plane.
    std::vector<int64_t> col0(Wo), col1(Wo);
    for (int64_t ow = 0; ow < Wo; ++ow) {
      int64_t w0 = ow * g.stride[1] - g.padding[1];
      col1[ow] = std::min(w0 + (g.kernel[1] - 1) * g.dilation[1] + 1, W);
      while (w0 < 0) w0 += g.dilation[1];
      col0[ow] = w0;
    }
    // Locals, not g's fields: stores to the int64 indices could alias them and force reloads.
    const int64_t sh = g.stride[0], ph = g.padding[0], dh = g.dilation[0], dw = g.dilation[1];
    const int64_t span_h = (g.kernel[0] - 1) * dh + 1;
    const int64_t* c0 = col0.data();
    const int64_t* c1 = col1.data();
    // By value: a by-reference capture of H, W... could alias the index stores too.
    parallel_for(0, P, plane_grain(Ho * Wo * g.kernel[0] * g.kernel[1]), [=](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = px + p * H * W;  // (H, W)
        T* op = po + p * Ho * Wo;      // (H_out, W_out)
        int64_t* ip = pi + p * Ho * Wo;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          int64_t h0 = oh * sh - ph;
          const int64_t h1 = std::min(h0 + span_h, H);
          while (h0 < 0) h0 += dh;
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const int64_t w0 = c0[ow], w1 = c1[ow];
            int64_t best_i = h0 * W + w0;
            T best = -std::numeric_limits<T>::infinity();
            for (int64_t h = h0; h < h1; h += dh)
              for (int64_t w = w0; w < w1; w += dw) {
                const T v = xp[h * W + w];
                // NaN wins, and a later NaN replaces an earlier one. Branch-free: on
                // random data the comparison is unpredictable.
                const bool take = (v > best) | (v != v);
                best = take ? v : best;
                best_i = take ? h * W + w : best_i;
              }
            op[oh * Wo + ow] = best;
            ip[oh * Wo + ow] = best_i;
          }
        }
      }
    });
  });
}

void max_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) {
  const int64_t P = grad_x.size(0), HW = grad_x.size(1) * grad_x.size(2), L = grad_out.size(1) * grad_out.size(2);
  dispatch_floating(grad_x.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pgx = grad_x.data<T>();
    const T* pg = grad_out.data<T>();
    const int64_t* pi = indices.data<int64_t>();
    parallel_for(0, P, plane_grain(L + HW), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        T* gx = pgx + p * HW;
        std::fill(gx, gx + HW, T(0));
        for (int64_t i = 0; i < L; ++i) gx[pi[p * L + i]] += pg[p * L + i];
      }
    });
  });
}

// Window of output (oh, ow): rows [h0, h1) and columns [w0, w1) of the input,
// and the divisor PyTorch uses for it (0 when the window lies in the padding).
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};
AvgWindow avg_window(const Pool2dGeometry& g, int64_t H, int64_t W, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.stride[0] - g.padding[0], w0 = ow * g.stride[1] - g.padding[1];
  int64_t h1 = std::min(h0 + g.kernel[0], H + g.padding[0]), w1 = std::min(w0 + g.kernel[1], W + g.padding[1]);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, H);
  w1 = std::min(w1, W);
  if (h0 >= h1 || w0 >= w1) return {0, 0, 0, 0, 0};
  return {h0, h1, w0, w1, g.count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

void avg_pool2d_kernel(const Tensor& out, const Tensor& x, const Pool2dGeometry& g) {
  const int64_t P = x.size(0), H = x.size(1), W = x.size(2), Ho = out.size(1), Wo = out.size(2);
  dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(0, P, plane_grain(Ho * Wo * g.kernel[0] * g.kernel[1]), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* xp = px + p * H * W;  // (H, W)
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const AvgWindow win = avg_window(g, H, W, oh, ow);
            double s = 0;  // PyTorch's CPU accumulator type for float and double
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) s += xp[h * W + w];
            po[(p * Ho + oh) * Wo + ow] = win.divisor ? static_cast<T>(s / win.divisor) : T(0);
          }
      }
    });
  });
}

void avg_pool2d_backward_kernel(const Tensor& grad_x, const Tensor& grad_out, const Pool2dGeometry& g) {
  const int64_t P = grad_x.size(0), H = grad_x.size(1), W = grad_x.size(2), Ho = grad_out.size(1),
                Wo = grad_out.size(2);
  dispatch_floating(grad_x.dtype(), "avg_pool2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pgx = grad_x.data<T>();
    const T* pg = grad_out.data<T>();
    parallel_for(0, P, plane_grain(Ho * Wo * g.kernel[0] * g.kernel[1]), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        T* gx = pgx + p * H * W;  // (H, W)
        std::fill(gx, gx + H * W, T(0));
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const AvgWindow win = avg_window(g, H, W, oh, ow);
            if (!win.divisor) continue;
            const T share = pg[(p * Ho + oh) * Wo + ow] / static_cast<T>(win.divisor);
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) gx[h * W + w] += share;
          }
      }
    });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(max_pool2d_stub, DeviceType::CPU, &max_pool2d_kernel);
TSR_REGISTER_KERNEL(max_pool2d_backward_stub, DeviceType::CPU, &max_pool2d_backward_kernel);
TSR_REGISTER_KERNEL(avg_pool2d_stub, DeviceType::CPU, &avg_pool2d_kernel);
TSR_REGISTER_KERNEL(avg_pool2d_backward_stub, DeviceType::CPU, &avg_pool2d_backward_kernel);

}  // namespace tessera
