// The peak FLOP/s of the running machine, measured, for MFU (model FLOPs
// utilization) that means something on any CPU: fp32 FMA throughput (AVX-512
// FMA with 16 independent accumulators per thread, AVX2+FMA where there is no
// AVX-512, plain C++ otherwise) and bf16 dot-product throughput (vdpbf16ps,
// where the CPU has AVX512_BF16), run on the library's threads (core/parallel.h)
// at the given thread count. Calibrated to about 30 ms per measurement, best
// of three, well under a second in all. Each thread's rate is over its own
// CPU time, so a loaded machine (time slices going to other processes) still
// measures its hardware peak.
//
// A measurement is cached per machine in $XDG_CACHE_HOME/tessera/peak.json
// (else ~/.cache/tessera/peak.json; $TESSERA_PEAK_CACHE names another file),
// keyed by the CPU model string, the instruction sets used and the thread
// count. A corrupt or unreadable cache is ignored and rewritten; a cache that
// cannot be written only costs the next process another measurement.
#pragma once
#include <string>

namespace tessera {

struct MachinePeak {
  std::string cpu;          // the CPU model string (cpuid brand)
  std::string fp32_isa;     // "avx512f", "avx2", "scalar"
  int threads = 1;
  double fp32_flops = 0;    // FLOP/s, an FMA counted as 2
  double bf16_flops = 0;    // FLOP/s of vdpbf16ps (2 multiply-adds per fp32 lane); 0: no AVX512_BF16
  bool from_cache = false;

  // The peak of a precision ("fp32", "bf16"): bf16 without bf16 instructions falls back to fp32.
  double for_precision(const std::string& precision) const;
  std::string key() const;  // the cache key: cpu | isa | threads
};

// Measures now, without the cache.
MachinePeak measure_machine_peak(int threads);

// The cached peak for `threads` (measured and cached on first use; also kept
// in memory for the process). cache_path "" means the default file above;
// remeasure measures again and replaces the cached entry.
MachinePeak machine_peak(int threads, const std::string& cache_path = "", bool remeasure = false);

// The default cache file.
std::string machine_peak_cache_path();

}  // namespace tessera
