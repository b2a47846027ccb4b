// Plugins: shared objects built with taskfp (libtaskfp_torch.so, libtaskfp_cuda.so) that the
// engine loads when first needed, so that their heavy dependencies (LibTorch, CUDA) are loaded
// only by the commands that use them.
#pragma once

#include <string>

namespace taskfp {

/// The address of `entry` in plugin `file`, loaded once per file and never unloaded. Looked for
/// in the file named by the environment variable `env_var` when set, else in lib/taskfp of the
/// folder above the running executable's (<prefix>/lib/taskfp for <prefix>/bin/taskfp after
/// `cmake --install`; <build>/lib/taskfp in the build tree, for <build>/engine/taskfp and the
/// test programs alike) and beside the executable. Null when none loads, with `why` listing every
/// place tried and what went wrong there.
void* plugin_entry(const std::string& file, const char* env_var, const char* entry, std::string& why);

/// The table a plugin's entry `const Table* entry()` returns, when its `version` is `version`;
/// else null, with `why`.
template <class Table>
const Table* load_plugin(const std::string& file, const char* env_var, const char* entry, int version,
                         std::string& why) {
  using Entry = const Table* (*)();
  const auto found = reinterpret_cast<Entry>(plugin_entry(file, env_var, entry, why));
  const Table* table = found ? found() : nullptr;
  if (table && table->version != version) {
    why = "the plugin found belongs to another taskfp build (rebuild it)";
    return nullptr;
  }
  return table;
}

}  // namespace taskfp
