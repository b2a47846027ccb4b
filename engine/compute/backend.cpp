// Choosing a compute backend (backend.hpp): once per command, from --backend.
#include "compute/backend.hpp"

#include "core/error.hpp"

namespace taskfp::compute {

const Backend& select(const std::string& choice, std::string* note) {
  require(choice == "auto" || choice == "cpu" || choice == "cuda", "unknown backend '{}': use auto, cpu or cuda",
          choice);
  if (choice == "cpu") {
    if (note) *note = "CPU backend (--backend cpu)";
    return cpu();
  }
  std::string why;
  if (const Backend* gpu = cuda(&why)) {
    if (note) *note = "CUDA backend on " + gpu->description();
    return *gpu;
  }
  require(choice != "cuda", "--backend cuda: {}", why);
  if (note) *note = why + ": running on the CPU";
  return cpu();
}

}  // namespace taskfp::compute
