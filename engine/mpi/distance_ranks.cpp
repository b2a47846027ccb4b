#include "mpi/distance_ranks.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"

namespace taskfp::mpi {

DistanceMatrix compute_distance_over_ranks(const MetricSpec& spec, const DistanceInputs& inputs,
                                           const DistanceRequest& request, const World& world) {
  DistanceRequest mine = request;
  const auto [first, last] = share(request.sources.size(), world.rank, world.size, kRowGranule);
  mine.sources.assign(request.sources.begin() + static_cast<std::ptrdiff_t>(first),
                      request.sources.begin() + static_cast<std::ptrdiff_t>(last));
  DistanceMatrix m;
  if (!mine.sources.empty()) {
    m = out_of_memory_as_error(
        fmt::format("computing {} for {} x {} tasks", spec.name, mine.sources.size(), mine.targets.size()),
        [&] { return compute_distance(spec, inputs, mine); });
  } else {  // more ranks than granules of sources: nothing to compute here
    m.metric = spec.name;
    m.values = Matrix<double>(0, mine.targets.size());
  }
  if (!world.distributed()) return m;
  DistanceMatrix whole;
  whole.values = gather_rows(m.values);
  for (auto& w : gather_strings(m.warnings))
    if (std::find(whole.warnings.begin(), whole.warnings.end(), w) == whole.warnings.end()) whole.warnings.push_back(w);
  if (!world.root()) return {};
  whole.sources = request.sources;
  whole.targets = request.targets;
  whole.metric = spec.name;
  return whole;
}

}  // namespace taskfp::mpi
