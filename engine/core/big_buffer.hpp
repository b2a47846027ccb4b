// Storage for large arrays of numbers: an allocator that leaves elements uninitialised unless a
// value is given, and backs blocks of 2 MiB or more with transparent huge pages.
//
// Why: features (20 MB per task) and the KL family's row buffers (hundreds of MB) are written
// once right after allocation. Zero-filling them first doubles the memory traffic, and touching
// fresh memory in 4 KiB pages costs a page fault per page; on virtual machines that trap faults
// to the hypervisor this took longer than the arithmetic (bench/RESULTS.md). 2 MiB pages cut the
// faults 512-fold. The advice is only advice: where huge pages are off, 4 KiB pages are used.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace taskfp {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

/// Allocates `bytes` bytes; 2 MiB-aligned and advised to use huge pages from 2 MiB on.
inline void* big_allocate(std::size_t bytes) {
  bytes = std::max<std::size_t>(bytes, 1);
  void* p = nullptr;
  if (bytes >= kHugePageBytes) {
    bytes = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    p = std::aligned_alloc(kHugePageBytes, bytes);
#ifdef MADV_HUGEPAGE
    if (p) ::madvise(p, bytes, MADV_HUGEPAGE);  // failure leaves 4 KiB pages: still correct
#endif
  } else {
    p = std::malloc(bytes);
  }
  if (!p) throw std::bad_alloc();
  return p;
}

/// std::allocator replacement for trivial element types: value-initialisation (`vector(n)`,
/// `resize(n)`) leaves elements uninitialised; `vector(n, value)` still fills.
template <typename T>
struct BigAllocator {
  static_assert(std::is_trivially_copyable_v<T>, "BigAllocator is for plain numbers");
  using value_type = T;
  BigAllocator() noexcept = default;
  template <typename U>
  BigAllocator(const BigAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(big_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialisation: no zero fill
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const BigAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace taskfp
