// What this machine has, checked before work whose size the user chose: a request that cannot
// fit is refused at once with the options that shrink it, not run until the kernel kills it.
#pragma once

#include <cstdint>
#include <string>

namespace taskfp {

/// Physical memory of this machine, in bytes.
std::uint64_t physical_memory();

/// InputError when `bytes` (a floating-point count, so that products of user sizes cannot
/// overflow) exceed the machine's physical memory; `what` says what needs them and which options
/// make it smaller.
void require_memory(long double bytes, const std::string& what);

}  // namespace taskfp
