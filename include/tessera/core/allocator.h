// Caching allocator for tensor storage. Blocks are 64-byte aligned and, once
// freed, kept in per-size free lists so a steady training loop (same shapes
// every step) reaches the system allocator only during its first step.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tessera/core/device.h"

namespace tessera {

struct AllocatorStats {
  uint64_t system_allocs = 0;   // calls that reached the system allocator
  uint64_t allocs = 0;          // all allocation requests
  size_t bytes_in_use = 0;      // handed out and not yet returned
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;      // held in free lists
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void empty_cache() = 0;  // give cached blocks back to the system
};

// The allocator for a device type (CPU now). Throws DeviceError for a device
// with no backend compiled in.
Allocator& allocator_for(Device device);

constexpr size_t kAlignment = 64;

}  // namespace tessera
