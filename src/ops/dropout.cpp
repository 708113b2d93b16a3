// Dropout. Training with 0 < p reserves numel counters from the generator
// whatever the mask layout (tessera/ops/dropout_layout.h), so every other
// random stream's offsets are the same in both layouts; the mask is recomputed
// from (seed, offset, layout) in backward instead of being stored.
// As torch: p == 0, eval mode and empty inputs return x itself and draw nothing.
#include "tessera/ops/dropout.h"
#include "tessera/core/profiler.h"

#include <atomic>
#include <string>

#include "kernels/dropout.h"
#include "tessera/autograd/node.h"

namespace tessera {

namespace {
std::atomic<DropoutMaskLayout> g_mask_layout{DropoutMaskLayout::kFourWordsPerCounter};
}  // namespace

DropoutMaskLayout dropout_mask_layout() { return g_mask_layout.load(std::memory_order_relaxed); }
void set_dropout_mask_layout(DropoutMaskLayout layout) { g_mask_layout.store(layout, std::memory_order_relaxed); }

const char* dropout_mask_layout_name(DropoutMaskLayout layout) {
  return layout == DropoutMaskLayout::kWord0PerCounter ? "philox4x32_word0" : "philox4x32_words4";
}

DropoutMaskLayout parse_dropout_mask_layout(std::string_view name) {
  if (name == "philox4x32_words4") return DropoutMaskLayout::kFourWordsPerCounter;
  if (name == "philox4x32_word0") return DropoutMaskLayout::kWord0PerCounter;
  throw Error("dropout mask layout: unknown name '" + std::string(name) +
              "' (known: philox4x32_words4, philox4x32_word0)");
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  TSR_PROFILE_OP("dropout", x);
  TSR_CHECK(p >= 0.0 && p <= 1.0, Error, "dropout: probability must be in [0, 1], got ", p);
  TSR_CHECK(is_floating(x.dtype()), DTypeError, "dropout: expected a floating-point tensor, got ",
            dtype_name(x.dtype()));
  if (!training || p == 0.0 || x.numel() == 0) return x;
  DropoutMask mask;
  mask.seed = gen.seed();
  mask.offset = gen.reserve(static_cast<uint64_t>(x.numel()));  // numel counters in either layout
  mask.p = p;
  mask.layout = dropout_mask_layout();
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  dropout_stub[x.device()](out, x.detach().contiguous(), mask);
  record("dropout", out, {x}, [mask](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = empty(g.shape(), {.dtype = g.dtype(), .device = g.device()});
    dropout_stub[g.device()](gx, g.contiguous(), mask);
    return {gx};
  });
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training) { return dropout(x, p, training, default_generator()); }

}  // namespace tessera
