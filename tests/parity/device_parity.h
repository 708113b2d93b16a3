// The device comparison mode of the parity harness: every golden case runs
// twice through Tessera, with its inputs on the CPU and on another device, and
// the outputs and input gradients must agree op by op. The CPU backend is the
// reference (its parity with torch is the harness's other mode), so this is a
// new backend's first test:  parity --golden FILE --device cuda
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tessera/core/device.h"

namespace tessera::parity {

struct DeviceParityOptions {
  Device device;
  std::string filter;         // run only this op's cases (empty: all)
  std::optional<double> tol;  // relative error allowed; default each case's tol / grad_tol
  // Test-only: a stub whose kernel on `device` is replaced, for the device
  // side of the run, by one that computes the right answer and then nudges it
  // (device cpu only). Proves the comparison catches a wrong kernel.
  std::string perturb;
};

// "cpu", "cuda" or "cuda:N"; throws Error for anything else.
Device parse_device(const std::string& s);

// Prints a table (one row per op) and every failure; returns the exit status:
// 0 when every case agrees, 1 otherwise.
int run_device_parity(const nlohmann::json& golden, const DeviceParityOptions& options);

}  // namespace tessera::parity
