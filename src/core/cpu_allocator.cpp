// CPU caching allocator. Sizes are rounded up (to 64 bytes below 1 MiB, to
// 4 KiB above) and freed blocks wait in an exact-size free list. A cap on the
// cached bytes keeps one odd-sized burst from pinning memory forever.
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tessera/core/allocator.h"
#include "tessera/core/error.h"
#include "tessera/core/profiler.h"

namespace tessera {
namespace {

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  size_t q = n < (1u << 20) ? kAlignment : 4096;
  return (n + q - 1) / q * q;
}

class CpuCachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    size_t size = round_size(nbytes);
    profiler::note_alloc(size);  // attributed to the innermost open profiler event
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocs;
    auto it = free_.find(size);
    void* p = nullptr;
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
    } else {
      p = std::aligned_alloc(kAlignment, size);
      if (!p) {
        // Give the cache back and try once more before failing with the size asked for.
        release_cached_locked();
        p = std::aligned_alloc(kAlignment, size);
      }
      if (!p)
        throw Error(detail::concat("out of memory: failed to allocate ", size, " bytes on cpu (",
                                   stats_.bytes_in_use, " bytes in use by tensors)"));
      ++stats_.system_allocs;
    }
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use -= size;
    if (stats_.bytes_cached + size > kMaxCached) {
      std::free(ptr);
      return;
    }
    free_[size].push_back(ptr);
    stats_.bytes_cached += size;
  }

  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached_locked();
  }

 private:
  void release_cached_locked() {
    for (auto& [size, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    stats_.bytes_cached = 0;
  }

  static constexpr size_t kMaxCached = size_t(4) << 30;  // 4 GiB
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.type == DeviceType::CPU) {
    // Never destroyed: tensors held by static objects may be freed after main returns.
    static CpuCachingAllocator* cpu = new CpuCachingAllocator();
    return *cpu;
  }
  throw DeviceError("no allocator for device " + device.str() + ": this build has no CUDA backend");
}

}  // namespace tessera
