# GEMM comes from oneDNN (Debian libdnnl2), loaded with dlopen on first use by
# src/backends/cpu/blas.cpp: it picks AVX-512/AVX2 kernels from cpuid with
# nothing for the user to set, and shares the OpenMP runtime with our kernels.
# See docs/blas.md for the measurements behind the choice. Nothing is linked
# at build time; this only warns early when the runtime library is missing.
find_library(TESSERA_DNNL_LIBRARY NAMES libdnnl.so.2 dnnl PATHS /usr/lib/x86_64-linux-gnu)
if(NOT TESSERA_DNNL_LIBRARY)
  message(WARNING "libdnnl.so.2 not found: float32 matmul will fail at run time. "
                  "Run scripts/install_deps.sh (Debian package libdnnl2).")
endif()
# The bf16 GEMM (src/backends/cpu/bf16_matmul.cpp) calls oneDNN's C API
# through dlopen too, but takes its types from the headers (Debian libdnnl-dev).
find_path(TESSERA_DNNL_INCLUDE oneapi/dnnl/dnnl.h)
if(NOT TESSERA_DNNL_INCLUDE)
  message(FATAL_ERROR "oneapi/dnnl/dnnl.h not found: run scripts/install_deps.sh (Debian package libdnnl-dev)")
endif()
add_library(tessera_blas INTERFACE)
target_include_directories(tessera_blas INTERFACE ${TESSERA_DNNL_INCLUDE})
