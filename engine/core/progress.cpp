// Terminal progress meter.
#include "core/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace taskfp {

ProgressMeter::ProgressMeter(std::string label, bool enabled)
    : label_(std::move(label)),
      enabled_(enabled && isatty(fileno(stderr))),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressMeter::~ProgressMeter() {
  if (drawn_) std::fputc('\n', stderr);
}

void ProgressMeter::update(std::size_t done, std::size_t total) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  std::fputs(fmt::format("\r{}  {}/{}  {:.1f}/s  ETA {:.0f}s   ", label_, done, total, rate, eta)
                 .c_str(),
             stderr);
  drawn_ = true;
}

ProgressFn ProgressMeter::callback() {
  if (!enabled_) return {};
  return [this](std::size_t done, std::size_t total) { update(done, total); };
}

}  // namespace taskfp
