// The shipped files' folder, found from the running executable (/proc/self/exe).
#include "core/install_paths.hpp"

#include <filesystem>

namespace taskfp {

std::string data_file(const std::string& relative) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const auto root = ec ? std::filesystem::path("..") : exe.parent_path().parent_path();
  return (root / "share" / "taskfp" / relative).lexically_normal().string();
}

}  // namespace taskfp
