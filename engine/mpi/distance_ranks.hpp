// A distance matrix computed by all MPI ranks together: rows shared in whole BLAS tiles (so the
// gathered matrix equals the single-process one bit for bit), gathered on rank 0.
#pragma once

#include "distance/distance.hpp"
#include "mpi/world.hpp"

namespace taskfp::mpi {

/// compute_distance over the ranks of `world`: rank r computes the rows of its share of
/// request.sources (mpi::share in granules of kRowGranule; a rank past the last granule computes
/// nothing), and rank 0 gathers the blocks in rank order and every rank's warnings (each once).
/// Rank 0, and a world of one, get the whole matrix (sources x targets); other ranks an empty
/// one. Collective. InputError as compute_distance, or when the computation runs out of memory
/// (the message names the metric and the shape).
DistanceMatrix compute_distance_over_ranks(const MetricSpec& spec, const DistanceInputs& inputs,
                                           const DistanceRequest& request, const World& world);

}  // namespace taskfp::mpi
