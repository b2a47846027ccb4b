// The weights checksum both LibTorch plugins record in provenance: FNV-1a 64 over each tensor's
// name and float32 bytes, in name order. Include only from plugin sources.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace taskfp {

/// "fnv1a64:<16 hex digits>" of `tensors` (parameters and buffers by name).
inline std::string weights_checksum(const std::map<std::string, torch::Tensor>& tensors) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  };
  for (const auto& [name, t] : tensors) {
    mix(name.data(), name.size());
    auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    mix(c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * sizeof(float));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string("fnv1a64:") + buf;
}

}  // namespace taskfp
