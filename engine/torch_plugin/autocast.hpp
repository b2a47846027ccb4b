// Autocast (mixed precision) for LibTorch code in taskfp's plugins (the backbones of
// engine/torch_plugin, the training of experiments/train_plugin): a scope that turns it on for
// one device kind, across LibTorch versions. Include only from plugin sources.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <string>

namespace taskfp {

// Autocast's state per device kind: LibTorch 2.4 replaced the per-device functions (is_enabled,
// is_cpu_enabled, get_autocast_gpu_dtype, ...; deprecated since, with a warning per call) by
// functions taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool autocast_enabled(c10::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
inline void set_autocast(c10::DeviceType d, bool on) { at::autocast::set_autocast_enabled(d, on); }
inline at::ScalarType autocast_dtype(c10::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
inline void set_autocast_dtype(c10::DeviceType d, at::ScalarType t) { at::autocast::set_autocast_dtype(d, t); }
#else
inline bool autocast_enabled(c10::DeviceType d) {
  return d == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
inline void set_autocast(c10::DeviceType d, bool on) {
  d == c10::DeviceType::CUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
inline at::ScalarType autocast_dtype(c10::DeviceType d) {
  return d == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
inline void set_autocast_dtype(c10::DeviceType d, at::ScalarType t) {
  d == c10::DeviceType::CUDA ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif

/// Autocast for the duration of one forward pass, as torch.autocast does it: precision "fp32"
/// leaves it off, "bf16" and "fp16" turn it on with that type.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, const std::string& precision) : kind_(device.type()) {
    if (precision == "fp32") return;
    active_ = true;
    was_enabled_ = autocast_enabled(kind_);
    was_dtype_ = autocast_dtype(kind_);
    set_autocast_dtype(kind_, precision == "bf16" ? at::kBFloat16 : at::kHalf);
    set_autocast(kind_, true);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast(kind_, was_enabled_);
    set_autocast_dtype(kind_, was_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType kind_;
  bool active_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

}  // namespace taskfp
