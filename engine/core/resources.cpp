// Machine resources.
#include "core/resources.hpp"

#include <unistd.h>

#include "core/error.hpp"

namespace taskfp {

std::uint64_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
}

void require_memory(long double bytes, const std::string& what) {
  const auto have = physical_memory();
  if (have == 0 || bytes <= static_cast<long double>(have)) return;
  throw InputError(fmt::format("{} needs {:.3g} GB of memory, more than this machine's {:.3g} GB", what,
                               static_cast<double>(bytes / 1e9), static_cast<double>(have) / 1e9));
}

}  // namespace taskfp
