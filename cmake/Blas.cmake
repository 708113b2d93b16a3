# BLAS for matmul. We link OpenBLAS's CBLAS interface at build time but load the
# OpenMP build of OpenBLAS at run time (src/backends/cpu/blas_loader.cpp) so that
# we can pick its kernel set before it initializes; see docs/blas.md.
find_path(CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/x86_64-linux-gnu /usr/include)
if(NOT CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: run scripts/install_deps.sh (Debian package libopenblas-dev)")
endif()
add_library(tessera_blas INTERFACE)
target_include_directories(tessera_blas INTERFACE ${CBLAS_INCLUDE_DIR})
