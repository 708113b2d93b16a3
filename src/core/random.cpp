// Philox4x32-10 and the random tensor factories built on it. Element i of a
// call uses counter (offset + i) alone, so parallel fills are deterministic.
#include "tessera/core/random.h"

#include <cmath>

#include "tessera/core/parallel.h"

namespace tessera {

std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(kM0) * c0;
    uint64_t p1 = static_cast<uint64_t>(kM1) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += kW0;
    k1 += kW1;
  }
  return {c0, c1, c2, c3};
}

Generator& default_generator() {
  static thread_local Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

namespace {

template <typename T, typename F>
Tensor fill_random(const Shape& shape, TensorOptions opts, Generator& gen, F&& value_of) {
  bool rg = opts.requires_grad;
  opts.requires_grad = false;
  Tensor out = empty(shape, opts);
  int64_t n = out.numel();
  uint64_t base = gen.reserve(static_cast<uint64_t>(n));
  uint64_t key = gen.seed();
  T* p = out.data<T>();
  parallel_for(0, n, 8192, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = value_of(philox4x32(base + static_cast<uint64_t>(i), key));
  });
  if (rg) out.set_requires_grad(true);
  return out;
}

double normal_from(const std::array<uint32_t, 4>& w) {
  double u1 = 1.0 - uint_to_unit_double(w[0], w[1]);  // (0, 1]: log is finite
  double u2 = uint_to_unit_double(w[2], w[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts) {
  return dispatch_floating(opts.dtype, "rand", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return fill_random<T>(shape, opts, gen, [](const std::array<uint32_t, 4>& w) {
      if constexpr (std::is_same_v<T, float>) return uint_to_unit_float(w[0]);
      else return uint_to_unit_double(w[0], w[1]);
    });
  });
}

Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts) {
  return dispatch_floating(opts.dtype, "randn", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return fill_random<T>(shape, opts, gen, [](const std::array<uint32_t, 4>& w) { return static_cast<T>(normal_from(w)); });
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, TensorOptions opts) {
  TSR_CHECK(high > low, Error, "randint: empty range [", low, ", ", high, ")");
  uint64_t range = static_cast<uint64_t>(high - low);
  Tensor out = fill_random<int64_t>(shape, {.dtype = DType::I64, .device = opts.device}, gen,
                                    [&](const std::array<uint32_t, 4>& w) {
                                      uint64_t v = static_cast<uint64_t>(w[0]) << 32 | w[1];
                                      return low + static_cast<int64_t>(v % range);
                                    });
  return out.to(opts.dtype);
}

Tensor rand(const Shape& shape, TensorOptions opts) { return rand(shape, default_generator(), opts); }
Tensor randn(const Shape& shape, TensorOptions opts) { return randn(shape, default_generator(), opts); }
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts) {
  return randint(low, high, shape, default_generator(), opts);
}

}  // namespace tessera
