// allocator.cpp — the caching CPU allocator of ctorch_allocator.h.
//
// Why: a training step allocates the same large activations in the same order every step. Through glibc, freed
// blocks of a few megabytes stay in the heap (Proxima keeps freed memory to avoid page faults), and long-lived small
// allocations made between them (gradients, saved tensors) split the holes, so the heap grows well beyond what is
// live: a LoRA step on a 135M model held ~150 MB live but ~630 MB of heap. Here each large block is its own mapping,
// sized to one of eight classes per power of two, and a freed block waits in its class's free list for the next
// request of that class: the next step reuses it without page faults, and memory nobody asks for again is bounded by
// the cache limit instead of by fragmentation.
#include "ctorch_allocator.h"
#include "internal.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <new>
#include <atomic>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>

namespace {

class CachingCPUAllocator final : public c10::Allocator {
 public:
  CachingCPUAllocator(size_t min_bytes, size_t max_cached) : min_bytes_(min_bytes), max_cached_(max_cached) {}

  c10::DataPtr allocate(size_t n) override {
    if (n < min_bytes_.load(std::memory_order_relaxed)) {
      void *data = c10::alloc_cpu(n);
      return {data, data, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t size = size_class(n);
    void *data = nullptr;
    bool hit = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = free_.find(size);
      if (found != free_.end() && !found->second.empty()) {
        data = found->second.back();
        found->second.pop_back();
        auto position = age_.find(data);
        order_.erase(position->second);
        age_.erase(position);
        stats_.bytes_cached -= size;
        hit = true;
      }
    }
    if (!data) {
      data = map(size);
      if (!data) {
        release();  // give back what is cached and try once more before reporting
        data = map(size);
      }
      TORCH_CHECK_WITH(OutOfMemoryError, data, "CachingCPUAllocator: can't allocate memory: you tried to allocate ", n,
                       " bytes (a mapping of ", size, " bytes was refused)");
    }
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      ++(hit ? stats_.hits : stats_.misses);
      live_[data] = size;
      stats_.bytes_in_use += size;
      if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    } catch (const std::bad_alloc &) {
      munmap(data, size);
      TORCH_CHECK_WITH(OutOfMemoryError, false, "CachingCPUAllocator: can't allocate memory: no room to record a block");
    }
    return {data, data, &free_any, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &free_any; }

  void copy_data(void *dest, const void *src, std::size_t count) const override { std::memcpy(dest, src, count); }

  void set_limits(size_t min_bytes, size_t max_cached) {
    std::vector<std::pair<void *, size_t>> unmapped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      min_bytes_.store(min_bytes, std::memory_order_relaxed);
      max_cached_ = max_cached;
      evict_until(max_cached_, unmapped);
    }
    unmap(unmapped);
  }

  ct_allocator_stats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void release() {
    std::vector<std::pair<void *, size_t>> unmapped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      evict_until(0, unmapped);
    }
    unmap(unmapped);
  }

  static std::atomic<CachingCPUAllocator *> instance;

 private:
  // Eight classes per power of two (at most 12.5% unused), whole pages.
  static size_t size_class(size_t n) {
    size_t top = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(n)));
    size_t step = std::max<size_t>(top >> 3, 4096);
    return (n + step - 1) / step * step;
  }

  static void *map(size_t size) {
    void *data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return data == MAP_FAILED ? nullptr : data;
  }

  // Blocks from before installation, and small ones, were not mapped here: they go back to free().
  static void free_any(void *data) {
    if (!data) return;
    if (!instance.load(std::memory_order_acquire)->give_back(data)) c10::free_cpu(data);
  }

  // The freed block joins the cache; the blocks freed longest ago leave it while it holds more than the limit (a
  // size nobody has asked for since, such as the placeholders a model is built with before its weights arrive).
  bool give_back(void *data) {
    std::vector<std::pair<void *, size_t>> unmapped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto found = live_.find(data);
      if (found == live_.end()) return false;
      const size_t size = found->second;
      live_.erase(found);
      stats_.bytes_in_use -= size;
      try {
        free_[size].push_back(data);
        age_[data] = order_.insert(order_.end(), {data, size});
        stats_.bytes_cached += size;
        evict_until(max_cached_, unmapped);
      } catch (...) {
        // A deleter must not throw: without room to cache the block, give it back to the system.
        auto &blocks = free_[size];
        auto position = std::find(blocks.begin(), blocks.end(), data);
        if (position != blocks.end()) blocks.erase(position);
        if (age_.count(data)) {
          order_.erase(age_[data]);
          age_.erase(data);
          stats_.bytes_cached -= size;
        }
        ++stats_.releases;
        unmapped.emplace_back(data, size);
      }
    }
    unmap(unmapped);
    return true;
  }

  // Under mutex_: takes the blocks freed longest ago out of the cache until it holds at most `limit` bytes; the
  // caller unmaps them (`unmap`) after letting go of the lock.
  void evict_until(size_t limit, std::vector<std::pair<void *, size_t>> &unmapped) {
    while (stats_.bytes_cached > limit && !order_.empty()) {
      auto oldest = order_.front();
      order_.pop_front();
      age_.erase(oldest.first);
      auto &blocks = free_[oldest.second];
      blocks.erase(std::find(blocks.begin(), blocks.end(), oldest.first));
      stats_.bytes_cached -= oldest.second;
      ++stats_.releases;
      unmapped.push_back(oldest);
    }
  }

  static void unmap(const std::vector<std::pair<void *, size_t>> &blocks) {
    for (auto &block : blocks) munmap(block.first, block.second);
  }

  std::mutex mutex_;
  std::atomic<size_t> min_bytes_;
  size_t max_cached_;
  std::unordered_map<void *, size_t> live_;
  std::unordered_map<size_t, std::vector<void *>> free_;
  // Cached blocks from the longest free to the latest, and where each sits in that list.
  std::list<std::pair<void *, size_t>> order_;
  std::unordered_map<void *, std::list<std::pair<void *, size_t>>::iterator> age_;
  ct_allocator_stats stats_{};
};

std::atomic<CachingCPUAllocator *> CachingCPUAllocator::instance{nullptr};
std::mutex install_mutex;

}  // namespace

extern "C" {

int ct_caching_allocator_install(uint64_t min_bytes, uint64_t max_cached_bytes) {
  CT_GUARD(-1, {
    TORCH_CHECK(min_bytes >= 4096, "the caching allocator's smallest block must be at least one page, not ", min_bytes);
    std::lock_guard<std::mutex> lock(install_mutex);
    if (auto *installed = CachingCPUAllocator::instance.load(std::memory_order_acquire)) {
      installed->set_limits(min_bytes, max_cached_bytes);
      return 0;
    }
    // Never destroyed: tensors may outlive every static destructor. Published before libtorch can hand out a block
    // whose deleter reads it.
    auto *created = new CachingCPUAllocator(min_bytes, max_cached_bytes);
    CachingCPUAllocator::instance.store(created, std::memory_order_release);
    c10::SetCPUAllocator(created, /*priority=*/100);
    return 0;
  })
}

int ct_caching_allocator_installed(void) { return CachingCPUAllocator::instance.load() != nullptr; }

ct_allocator_stats ct_caching_allocator_stats(void) {
  auto *installed = CachingCPUAllocator::instance.load();
  return installed ? installed->stats() : ct_allocator_stats{};
}

void ct_caching_allocator_release(void) {
  if (auto *installed = CachingCPUAllocator::instance.load()) installed->release();
}

}  // extern "C"
