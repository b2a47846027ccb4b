// The Fisher embedding distance (FED; Achille et al.'s Task2Vec idea as mml_tf's
// GenericFEDDistances computes it): D[s][t] = 1 - cos(e_s, e_t), the cosine similarity of two
// tasks' Fisher embeddings (store/fisher_store.hpp, written by `taskfp fisher`); 0 for the same
// task. Symmetric.
#pragma once

#include <string>
#include <vector>

#include "core/progress.hpp"
#include "distance/distance.hpp"
#include "store/fisher_store.hpp"

namespace taskfp {

/// Sources x targets FED matrix, on the CPU (OpenMP over sources). Dot products and norms are
/// float64 sums of exact float32 x float32 products in one fixed order (8 lanes over chunks of
/// the embedding), the same for (s, t) and (t, s): the matrix is symmetric bit for bit, and its
/// bits do not depend on threads or ranks. The paper's values come from torch's float32
/// cosine_similarity, whose reductions round differently: they agree to about 1e-6 relative.
/// A task whose embedding is all zeros has similarity 0 (distance 1) with every other task, as
/// torch's clamped denominator gives it; a warning names it. InputError for a task absent from
/// the set.
DistanceMatrix fed_matrix(const FisherSet& set, const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, const ProgressFn& progress);

}  // namespace taskfp
