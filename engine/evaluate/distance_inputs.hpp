// The distance matrices an evaluation compares: named on the command line as files or as metric
// names in a cache folder, or the paper's own candidates found there.
#pragma once

#include <string>
#include <vector>

#include "distance/distance.hpp"
#include "io/csv.hpp"

namespace taskfp {

/// The distances of the paper's main comparison, by metric name: its two proposals (bKLD small
/// and large) and the baselines it reports (SEMANTIC, VDNA, FID, FED, the Sinkhorn divergence,
/// KLD on means).
const std::vector<std::string>& paper_candidate_distances();

/// The paper's candidates that have a matrix in <cache_dir>/distances/<name>.csv, in the order
/// of paper_candidate_distances().
std::vector<std::string> paper_candidates_in(const std::string& cache_dir);

/// Loads the matrices `specs` name, in order. A spec is "<file>.h5#<metric>" (one matrix of a
/// distance store), "<file>.h5" (all of its matrices), "<file>.csv" (the paper's CSV layout, numbers
/// read with `parser`), "P2L" (the paper's P2L with source size: the KLD-PP:NN matrix, named P2L,
/// for EvaluationConfig::meta_weights), or a metric name or alias: the matrix
/// <cache_dir>/distances/<name>.csv (the alias p2l is KLD-PP:NN alone, the paper's "w/o size").
/// InputError naming the spec and the path for a missing file, and as the store and CSV readers.
std::vector<DistanceMatrix> load_distance_matrices(const std::vector<std::string>& specs,
                                                   const std::string& cache_dir, FloatParser parser);

}  // namespace taskfp
