// parallel_claim (core/parallel.h): chunks claimed one at a time by whichever
// threads are running. The caller works too and waits only for chunks
// already claimed, never for a helper the OS has not scheduled: on a machine
// whose other core is busy, an OpenMP region's barrier waits a whole time
// slice (milliseconds) for its descheduled member, every call; here the
// caller just does the rest of the work itself.
//
// The job is published in a fixed slot; `next` packs the job's generation
// (high 32 bits) with the next unclaimed chunk (low 32 bits), so a helper that
// wakes late cannot claim a chunk of a job that has moved on: its
// compare-exchange fails once the generation or the count changed. A job's
// fields stay valid until all its chunks are finished, which cannot happen
// while a chunk is still unclaimed.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <omp.h>

#include "tessera/core/autocast.h"
#include "tessera/core/parallel.h"

namespace tessera {

namespace {

thread_local bool t_in_claim = false;  // nested parallel calls inside a chunk run inline

class ClaimPool {
 public:
  static ClaimPool& instance() {
    static ClaimPool* pool = new ClaimPool();  // never destroyed: helpers may outlive static destructors
    return *pool;
  }

  void run(int64_t chunks, int threads, const std::function<void(int64_t)>& fn) {
    std::lock_guard<std::mutex> one_job(job_mutex_);  // one job at a time (callers on several threads queue)
    ensure_helpers(threads - 1);
    helpers_wanted_ = threads - 1;
    fn_.store(&fn, std::memory_order_relaxed);
    chunks_.store(chunks, std::memory_order_relaxed);
    autocast_.store(autocast_precision(), std::memory_order_relaxed);
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = ++generation_;
    next_.store(gen << 32, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(wake_mutex_);
      posted_ = gen;
    }
    wake_.notify_all();
    t_in_claim = true;
    work(gen);
    t_in_claim = false;
    while (done_.load(std::memory_order_acquire) < chunks) std::this_thread::yield();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claims and runs chunks of job `gen` until none is left.
  void work(uint64_t gen) {
    for (;;) {
      uint64_t v = next_.load(std::memory_order_acquire);
      if ((v >> 32) != gen || static_cast<int64_t>(v & 0xffffffffu) >= chunks_.load(std::memory_order_relaxed)) return;
      const std::function<void(int64_t)>* fn = fn_.load(std::memory_order_relaxed);
      const Precision autocast = autocast_.load(std::memory_order_relaxed);
      if (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
      try {
        AutocastGuard same_precision(autocast);
        (*fn)(static_cast<int64_t>(v & 0xffffffffu));
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void helper_loop(int index) {
    t_in_claim = true;
    uint64_t seen = 0;
    for (;;) {
      // Spin briefly (decode calls come every few tens of microseconds), then sleep.
      const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      uint64_t gen = 0;
      while (std::chrono::steady_clock::now() < spin_until) {
        gen = next_.load(std::memory_order_acquire) >> 32;
        if (gen != seen) break;
        std::this_thread::yield();
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lk(wake_mutex_);
        wake_.wait(lk, [&] { return posted_ != seen; });
        gen = posted_;
      }
      seen = gen;
      if (index < helpers_wanted_) work(gen);  // fewer threads asked for than helpers exist: sit this one out
    }
  }

  void ensure_helpers(int n) {
    while (static_cast<int>(helpers_.size()) < n) {
      const int index = static_cast<int>(helpers_.size());
      helpers_.emplace_back([this, index] { helper_loop(index); });
      helpers_.back().detach();
    }
  }

  std::mutex job_mutex_, wake_mutex_, error_mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> helpers_;
  uint64_t generation_ = 0, posted_ = 0;
  std::atomic<uint64_t> next_{0};
  std::atomic<int64_t> done_{0};
  // Read by helpers before their claim is validated: atomics, so a stale read is merely discarded.
  std::atomic<const std::function<void(int64_t)>*> fn_{nullptr};
  std::atomic<int64_t> chunks_{0};
  std::atomic<int> helpers_wanted_{0};
  std::atomic<Precision> autocast_{Precision::fp32};
  std::exception_ptr error_;
};

}  // namespace

void parallel_claim(int64_t chunks, const std::function<void(int64_t)>& fn) {
  if (chunks <= 0) return;
  const int threads = get_num_threads();
  if (threads <= 1 || chunks == 1 || t_in_claim || omp_in_parallel()) {
    for (int64_t c = 0; c < chunks; ++c) fn(c);
    return;
  }
  ClaimPool::instance().run(chunks, threads, fn);
}

}  // namespace tessera
