// The `tessera` tool's OpenMP wait policy (omp_wait_policy.cpp): call first in main.
#pragma once

namespace tessera::cli {

// When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT
// and re-executes this program (/proc/self/exe, same arguments) so that
// libgomp, which read its environment before main, starts with it. Returns
// (without re-executing) when the user chose a setting or exec fails.
void bound_openmp_spinning(char** argv);

}  // namespace tessera::cli
