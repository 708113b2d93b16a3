// Dropout. Training with 0 < p reserves numel counters from the generator; the
// mask is recomputed from (seed, offset) in backward instead of being stored.
// As torch: p == 0, eval mode and empty inputs return x itself and draw nothing.
#include "tessera/ops/dropout.h"
#include "tessera/core/profiler.h"

#include "kernels/dropout.h"
#include "tessera/autograd/node.h"

namespace tessera {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  TSR_PROFILE_OP("dropout", x);
  TSR_CHECK(p >= 0.0 && p <= 1.0, Error, "dropout: probability must be in [0, 1], got ", p);
  TSR_CHECK(is_floating(x.dtype()), DTypeError, "dropout: expected a floating-point tensor, got ",
            dtype_name(x.dtype()));
  if (!training || p == 0.0 || x.numel() == 0) return x;
  const uint64_t seed = gen.seed();
  const uint64_t offset = gen.reserve(static_cast<uint64_t>(x.numel()));
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  dropout_stub[x.device()](out, x.detach().contiguous(), p, seed, offset);
  record("dropout", out, {x}, [p, seed, offset](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = empty(g.shape(), {.dtype = g.dtype(), .device = g.device()});
    dropout_stub[g.device()](gx, g.contiguous(), p, seed, offset);
    return {gx};
  });
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training) { return dropout(x, p, training, default_generator()); }

}  // namespace tessera
