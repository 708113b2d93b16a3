// Mixed precision, as torch.autocast does it on the CPU: inside an
// AutocastGuard(Precision::bf16) the float32 GEMMs (matmul, linear, conv2d,
// attention's products) round their operands to bfloat16 and accumulate in
// float32 (src/backends/cpu/blas.cpp); everything else (norms, softmax, loss,
// optimizer, the weights themselves) stays float32. The state belongs to the
// calling thread; parallel_for hands it to its worker chunks.
#pragma once
#include <string>
#include <string_view>

namespace tessera {

enum class Precision { fp32, bf16 };

// "fp32" / "bf16"; anything else throws an Error naming the value and `what`
// (the recipe key or flag it came from).
Precision parse_precision(std::string_view name, std::string_view what = "precision");
const char* precision_name(Precision p);

// The calling thread's autocast precision (fp32 unless a guard is active).
Precision autocast_precision();
inline bool autocast_bf16() { return autocast_precision() == Precision::bf16; }

// Sets the calling thread's autocast precision for its lifetime; nests.
class AutocastGuard {
 public:
  explicit AutocastGuard(Precision p);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  Precision previous_;
};

// Whether bf16 GEMMs run on the CPU's bf16 dot products (AVX512_BF16, and
// TESSERA_NO_BF16 unset or 0) or are emulated: operands rounded to bf16, then
// the float32 GEMM (same results up to summation order, no faster).
bool bf16_native();
// One line for logs: "bf16 GEMMs on AVX512_BF16 (oneDNN matmul)" or why they are emulated.
std::string bf16_backend_description();

}  // namespace tessera
