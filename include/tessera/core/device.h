// Where a tensor lives. CPU now; CUDA kernels register beside the CPU ones
// through the same dispatch stubs (see core/dispatch.h).
#pragma once
#include <string>

namespace tessera {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const { return type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(index); }
};

inline Device cpu_device() { return Device{}; }

}  // namespace tessera
