// Storage: a reference-counted buffer shared by a tensor and all its views.
// It also carries the version counter that in-place ops bump, so autograd can
// detect a saved tensor modified after it was saved.
#pragma once
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include "tessera/core/device.h"

namespace tessera {

class Storage {
 public:
  // Allocates nbytes from the device's caching allocator.
  Storage(size_t nbytes, Device device);
  // Wraps memory owned elsewhere; `deleter` (may be empty) runs on destruction.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool owned_ = true;
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace tessera
