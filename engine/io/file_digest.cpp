// File digests with xxHash (Debian libxxhash-dev).
#include "io/file_digest.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace taskfp {
namespace {

struct StateDeleter {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};

std::uint64_t add_file(XXH3_state_t* state, const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  require(f != nullptr, "cannot read '{}': {}", path.string(), std::strerror(errno));
  std::vector<char> buf(std::size_t{1} << 20);
  std::uint64_t total = 0;
  while (const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get())) {
    XXH3_64bits_update(state, buf.data(), n);
    total += n;
  }
  require(!std::ferror(f.get()), "cannot read '{}': {}", path.string(), std::strerror(errno));
  return total;
}

}  // namespace

std::string file_digest(const std::string& path) {
  std::unique_ptr<XXH3_state_t, StateDeleter> state(XXH3_createState());
  XXH3_64bits_reset(state.get());
  std::error_code ec;
  std::uint64_t bytes = 0;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
    require(!ec, "cannot list '{}': {}", path, ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = fs::relative(f, path).string();
      XXH3_64bits_update(state.get(), name.c_str(), name.size() + 1);
      const std::uint64_t size = add_file(state.get(), f);
      XXH3_64bits_update(state.get(), &size, sizeof size);
      bytes += size;
    }
  } else {
    bytes = add_file(state.get(), path);
  }
  return fmt::format("{} bytes, xxh3 {:016x}", bytes, XXH3_64bits_digest(state.get()));
}

}  // namespace taskfp

namespace taskfp {
std::string text_digest(std::string_view text) {
  return fmt::format("xxh3 {:016x}", XXH3_64bits(text.data(), text.size()));
}
}  // namespace taskfp
