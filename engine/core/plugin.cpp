// Finding and loading plugins (dlopen).
#include "core/plugin.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace taskfp {

void* plugin_entry(const std::string& file, const char* env_var, const char* entry, std::string& why) {
  std::vector<std::string> places;
  if (const char* env = std::getenv(env_var); env && *env) {
    places.emplace_back(env);
  } else {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      places.push_back((exe.parent_path().parent_path() / "lib" / "taskfp" / file).string());
      places.push_back((exe.parent_path() / file).string());
    }
  }
  std::vector<std::string> tried;
  for (const auto& path : places) {
    if (!std::filesystem::exists(path)) {
      tried.push_back(path + ": absent");
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept open: its objects live on
    if (!handle) {
      tried.push_back(path + ": " + dlerror());
      continue;
    }
    if (void* address = dlsym(handle, entry)) return address;
    tried.push_back(path + ": no " + entry + " in it");
  }
  why = fmt::format("{}", fmt::join(tried, "; "));
  return nullptr;
}

}  // namespace taskfp
