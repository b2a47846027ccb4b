// FED: 1 - cosine similarity of Fisher embeddings (fed.hpp).
#include "distance/fed.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace taskfp {

namespace {

// Embedding values per block: every task's slice of a block (32 KiB each) stays in cache while
// all pairs use it.
constexpr std::size_t kChunk = 8192;

// sum_k a_k b_k over [0, n) in 8 lanes, the lanes added pairwise at the end: symmetric in a and
// b, exact products (float32 x float32 fits float64).
double dot(const float* a, const float* b, std::size_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int l = 0; l < 8; ++l) lane[l] += static_cast<double>(a[k + l]) * static_cast<double>(b[k + l]);
  for (int l = 0; k < n; ++k, ++l) lane[l] += static_cast<double>(a[k]) * static_cast<double>(b[k]);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

DistanceMatrix fed_matrix(const FisherSet& set, const std::vector<std::string>& sources,
                          const std::vector<std::string>& targets, const ProgressFn& progress) {
  DistanceMatrix out;
  out.metric = "FED";
  out.sources = sources;
  out.targets = targets;
  std::vector<const FisherEmbedding*> s_rows, t_rows;
  for (const auto& n : sources) s_rows.push_back(&set.at(n));
  for (const auto& n : targets) t_rows.push_back(&set.at(n));
  const std::size_t ns = sources.size(), nt = targets.size();
  const std::size_t d = s_rows.empty() ? 0 : s_rows.front()->values.size();
  for (const auto* list : {&s_rows, &t_rows})
    for (const auto* e : *list)
      require(e->values.size() == d, "FED: task '{}' has an embedding of {} values, task '{}' one of {}", e->task,
              e->values.size(), s_rows.front()->task, d);
  // Block by block of the embedding; each pair's (and each norm's) sum runs over the blocks in order.
  Matrix<double> dots(ns, nt);
  std::vector<double> s_norm(ns, 0.0), t_norm(nt, 0.0);
  for (std::size_t k0 = 0; k0 < d; k0 += kChunk) {
    const std::size_t kc = std::min(kChunk, d - k0);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::size_t i = 0; i < ns; ++i) {
      const float* a = s_rows[i]->values.data() + k0;
      s_norm[i] += dot(a, a, kc);
      for (std::size_t j = 0; j < nt; ++j) dots(i, j) += dot(a, t_rows[j]->values.data() + k0, kc);
    }
    for (std::size_t j = 0; j < nt; ++j) {
      const float* b = t_rows[j]->values.data() + k0;
      t_norm[j] += dot(b, b, kc);
    }
    if (progress) progress(k0 + kc, d);
  }
  for (auto& v : s_norm) v = std::sqrt(v);
  for (auto& v : t_norm) v = std::sqrt(v);
  std::vector<std::string> zero;
  for (std::size_t i = 0; i < ns; ++i)
    if (s_norm[i] == 0) zero.push_back(sources[i]);
  for (std::size_t j = 0; j < nt; ++j)
    if (t_norm[j] == 0 && std::find(zero.begin(), zero.end(), targets[j]) == zero.end()) zero.push_back(targets[j]);
  out.values = Matrix<double>(ns, nt);
  for (std::size_t i = 0; i < ns; ++i)
    for (std::size_t j = 0; j < nt; ++j) {
      if (sources[i] == targets[j]) {
        out.values(i, j) = 0.0;
        continue;
      }
      const double denominator = s_norm[i] * t_norm[j];
      out.values(i, j) = 1.0 - (denominator > 0 ? dots(i, j) / denominator : 0.0);
    }
  for (const auto& n : zero)
    out.warnings.push_back(fmt::format("FED: task '{}' has an all-zero Fisher embedding; its similarity to every "
                                       "other task is taken as 0 (distance 1), as torch's cosine_similarity gives it",
                                       n));
  return out;
}

}  // namespace taskfp
