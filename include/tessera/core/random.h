// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011). Every
// element's random value depends only on (seed, offset + element index), so a
// dropout mask or an initializer is the same for any thread count.
#pragma once
#include <array>
#include <cstdint>

#include "tessera/core/tensor.h"

namespace tessera {

// Four 32-bit random words for a counter under a key.
std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t key);

// Uniform float in [0, 1) from a 32-bit word (24 random bits, as torch's uniform_).
inline float uint_to_unit_float(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }
inline double uint_to_unit_double(uint32_t hi, uint32_t lo) {
  uint64_t v = (static_cast<uint64_t>(hi) << 32 | lo) >> 11;
  return static_cast<double>(v) * (1.0 / 9007199254740992.0);
}

// A seeded stream: each call reserves a range of counters, so consecutive
// calls draw fresh numbers and a saved (seed, offset) pair resumes exactly.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserve n counters; returns the first.
  uint64_t reserve(uint64_t n) { uint64_t o = offset_; offset_ += n; return o; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (manual_seed sets it).
Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts = {});   // U[0,1)
Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts = {});  // N(0,1)
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen,
               TensorOptions opts = {.dtype = DType::I64});
Tensor rand(const Shape& shape, TensorOptions opts = {});
Tensor randn(const Shape& shape, TensorOptions opts = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts = {.dtype = DType::I64});

}  // namespace tessera
