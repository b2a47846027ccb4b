// Progress of long work: "label  done/total  rate/s  ETA" on a terminal, silent otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace taskfp {

/// Callback a library function calls as work completes: (done, total).
using ProgressFn = std::function<void(std::size_t done, std::size_t total)>;

/// Draws a one-line progress meter on stderr when stderr is a terminal and not quiet.
class ProgressMeter {
 public:
  ProgressMeter(std::string label, bool enabled);
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  void update(std::size_t done, std::size_t total);
  /// A ProgressFn bound to this meter (empty when the meter is disabled).
  ProgressFn callback();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace taskfp
