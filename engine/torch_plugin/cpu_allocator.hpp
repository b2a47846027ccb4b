// A CPU allocator for LibTorch in taskfp's plugins (the backbones, the training) that keeps freed
// blocks for reuse. Include only from plugin sources.
#pragma once

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

namespace taskfp {

// LibTorch's CPU tensors through a pool that keeps freed blocks for reuse. Inference (and
// training) allocates the same large activation tensors for every batch; from glibc each is a fresh mmap whose pages
// fault in and are zeroed again, which made a batch of 32 at 256 x 256 4x slower on CPU
// (bench/RESULTS.md). Blocks from 64 KiB up are kept by exact size, up to a cap on the bytes
// held; the rest go straight to malloc/free. A 64-byte header before each block holds its size.
//
// LibTorch 2.3 changed c10::Allocator: allocate() is no longer const and copy_data() must be
// given. Both forms of allocate() are defined and no `override` is written, so whichever the
// LibTorch at hand declares is overridden (and copy_data() is a plain member before 2.3).
class ReusingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) { return take(n); }                // LibTorch >= 2.3
  c10::DataPtr allocate(std::size_t n) const { return take(n); }          // LibTorch < 2.3
  void copy_data(void* dest, const void* src, std::size_t count) const {  // LibTorch >= 2.3
    std::memcpy(dest, src, count);
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static c10::DataPtr take(std::size_t n) {
    if (n == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    void* block = nullptr;
    if (n >= kMinCached) {
      std::lock_guard lock(pool().mutex);
      auto it = pool().free.find(n);
      if (it != pool().free.end()) {
        block = it->second;
        pool().free.erase(it);
        pool().held -= n;
      }
    }
    if (!block) {
      block = std::aligned_alloc(kHeader, ((n + kHeader - 1) / kHeader + 1) * kHeader);
      if (!block) throw std::bad_alloc();
      *static_cast<std::size_t*>(block) = n;
    }
    void* data = static_cast<char*>(block) + kHeader;
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  static constexpr std::size_t kHeader = 64, kMinCached = std::size_t{64} << 10, kMaxHeld = std::size_t{4} << 30;
  struct Pool {
    std::mutex mutex;
    std::unordered_multimap<std::size_t, void*> free;
    std::size_t held = 0;
  };
  static Pool& pool() {
    static auto* p = new Pool;  // never destroyed: tensors may be freed during static destruction
    return *p;
  }
  static void release(void* data) {
    if (!data) return;
    void* block = static_cast<char*>(data) - kHeader;
    const std::size_t n = *static_cast<std::size_t*>(block);
    if (n >= kMinCached) {
      std::lock_guard lock(pool().mutex);
      if (pool().held + n <= kMaxHeld) {
        pool().free.emplace(n, block);
        pool().held += n;
        return;
      }
    }
    std::free(block);
  }
};

/// Makes LibTorch's CPU tensors come from the reusing pool (once per process; later calls do
/// nothing).
inline void install_reusing_cpu_allocator() {
  static ReusingCpuAllocator allocator;
  static const bool installed = (c10::SetCPUAllocator(&allocator, /*priority=*/1), true);
  (void)installed;
}

}  // namespace taskfp
