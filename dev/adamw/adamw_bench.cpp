// One AdamW step over the parameters of the 6-layer 384-wide GPT (block 256,
// GPT-2 BPE vocabulary would dwarf the rest, so the char vocabulary of 65),
// through the public optimizer API, so it builds against any libtessera
// (dev/adamw/run.sh). Best of 20 steps; indicative on a shared machine.
#include <chrono>
#include <cstdio>

#include "tessera/optim/adam.h"
#include "tessera/tessera.h"

using namespace tessera;

int main(int argc, char** argv) {
  set_num_threads(argc > 1 ? std::atoi(argv[1]) : 2);
  const int64_t C = 384, V = 65, T = 256;
  std::vector<Shape> shapes = {{V, C}, {T, C}};
  for (int l = 0; l < 6; ++l)
    for (Shape s : std::vector<Shape>{{C}, {C}, {3 * C, C}, {3 * C}, {C, C}, {C}, {C}, {C}, {4 * C, C}, {4 * C},
                                      {C, 4 * C}, {C}})
      shapes.push_back(s);
  shapes.push_back({C});
  shapes.push_back({C});
  Generator gen(1);
  std::vector<Tensor> params;
  int64_t n = 0;
  for (const Shape& s : shapes) {
    params.push_back(randn(s, gen).set_requires_grad(true));
    params.back().set_grad(randn(s, gen));
    n += params.back().numel();
  }
  optim::AdamWOptions o;
  o.lr = 1e-3;
  o.weight_decay = 0.1;
  optim::AdamW opt(params, o);
  double best = 1e30;
  for (int rep = 0; rep < 20; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    opt.step();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("AdamW step, %zu tensors, %.2fM parameters: %.2f ms\n", params.size(), n / 1e6, best);
}
