// Distance store: one or more named matrices in one HDF5 file.
//   /matrices/<metric>/values   float64 S x T (rows = sources, columns = targets)
//   /matrices/<metric>/sources, /targets  string lists; attrs: metric
// Metric names contain ':' but no '/', so they are valid HDF5 group names.
#pragma once

#include <string>
#include <vector>

#include "distance/distance.hpp"
#include "io/csv.hpp"

namespace taskfp {

inline constexpr std::int64_t kDistanceSchemaVersion = 1;

/// Writes whole or not at all: committed at once, or with the run's other outputs in `set`.
void write_distance_store(const std::string& path, const std::vector<DistanceMatrix>& matrices,
                          const Provenance& provenance, OutputSet* set = nullptr);
std::vector<std::string> distance_store_metrics(const std::string& path);
DistanceMatrix read_distance_matrix(const std::string& path, const std::string& metric);

/// The paper's CSV format (rows = sources, columns = targets, 17 significant digits).
void write_distance_csv(const std::string& path, const DistanceMatrix& m, OutputSet* set = nullptr);
DistanceMatrix read_distance_csv(const std::string& path, FloatParser parser = FloatParser::Exact);

/// File name for a metric in a CSV folder, as the paper's cache names them: "<metric>.csv".
std::string distance_csv_name(const std::string& metric);

}  // namespace taskfp
