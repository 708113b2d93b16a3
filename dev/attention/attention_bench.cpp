// Attention forward and forward+backward at GPT shapes through the public op,
// so the same file builds against any libtessera (dev/attention/run.sh runs
// it against main's and this tree's). Best of 7; indicative on a shared machine.
#include <chrono>
#include <cstdio>

#include "tessera/tessera.h"

using namespace tessera;

template <class F>
double best_ms(F&& f) {
  double best = 1e30;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main(int argc, char** argv) {
  set_num_threads(argc > 1 ? std::atoi(argv[1]) : 2);
  struct Shape { int64_t BH, T, E; const char* what; };
  for (Shape s : {Shape{48, 256, 64, "6x384 GPT (8x6 heads, T 256, d 64)"}, Shape{12 * 4, 64, 32, "shakespeare_char (12x4 heads, T 64, d 32)"}}) {
    Generator gen(1);
    Tensor q = randn({s.BH, s.T, s.E}, gen), k = randn({s.BH, s.T, s.E}, gen), v = randn({s.BH, s.T, s.E}, gen);
    Tensor g = randn({s.BH, s.T, s.E}, gen);
    for (double p : {0.0, 0.1}) {
      double fwd = best_ms([&] { NoGradGuard ng; scaled_dot_product_attention(q, k, v, Tensor(), true, p); });
      double both = best_ms([&] {
        Tensor ql = q.detach().set_requires_grad(true), kl = k.detach().set_requires_grad(true),
               vl = v.detach().set_requires_grad(true);
        scaled_dot_product_attention(ql, kl, vl, Tensor(), true, p).backward(g);
      });
      std::printf("%-40s dropout %.1f  forward %7.2f ms  forward+backward %7.2f ms\n", s.what, p, fwd, both);
    }
  }
}
