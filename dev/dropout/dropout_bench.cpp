// Dropout mask + scale, one thread, in both mask layouts: the
// one-counter-at-a-time path (what the kernel ran before the AVX-512 lanes)
// against apply_dropout. Layout word0 (one Philox counter per element) is
// what old runs resume with; words4 (four elements per counter) is the
// default. Indicative only on a shared machine. Build and run: dev/dropout/run.sh
#include <chrono>
#include <cstdio>
#include <vector>

#include "backends/cpu/dropout_mask.h"

using tessera::DropoutMask;
using tessera::DropoutMaskLayout;
using tessera::cpu::apply_dropout;
using tessera::cpu::apply_dropout_scalar;

template <class F>
double best_ns_per_element(F&& f, int64_t n) {
  double best = 1e30;
  for (int rep = 0; rep < 15; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best * 1e9 / static_cast<double>(n);
}

int main() {
  std::printf("AVX-512 path: %s\n", tessera::cpu::dropout_uses_avx512() ? "yes" : "no");
  for (DropoutMaskLayout layout : {DropoutMaskLayout::kWord0PerCounter, DropoutMaskLayout::kFourWordsPerCounter}) {
    const DropoutMask mask{7, 1000, 0.1, layout};
    for (int64_t n : {int64_t{139264}, int64_t{1} << 20}) {  // ViT (128, 17, 64) activations; 1M
      std::vector<float> x(static_cast<size_t>(n), 1.5f), y(static_cast<size_t>(n));
      double s = best_ns_per_element([&] { apply_dropout_scalar(y.data(), x.data(), n, mask, 0, 1.0f / 0.9f); }, n);
      double v = best_ns_per_element([&] { apply_dropout(y.data(), x.data(), n, mask, 0, 1.0f / 0.9f); }, n);
      std::printf("%-17s n %8lld  scalar %.2f ns/elem  avx512 %.2f ns/elem  (%.1fx)\n",
                  tessera::dropout_mask_layout_name(layout), static_cast<long long>(n), s, v, s / v);
    }
  }
}
