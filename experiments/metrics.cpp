// AUROC by ranks (Mann-Whitney U with average ranks for ties) and balanced accuracy by argmax.
#include "metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"

namespace taskfp::experiments {

std::string metric_name(OutcomeMetric m) { return m == OutcomeMetric::AUROC ? "AUROC" : "BA"; }

OutcomeMetric parse_metric(const std::string& text) {
  if (text == "AUROC" || text == "auroc") return OutcomeMetric::AUROC;
  if (text == "BA" || text == "ba" || text == "balanced_accuracy") return OutcomeMetric::BA;
  throw InputError(fmt::format("unknown outcome metric '{}' (known: AUROC, BA)", text));
}

namespace {

void check_layout(std::span<const float> scores, std::span<const int> labels, int classes) {
  if (classes < 1) throw InputError(fmt::format("{} classes: a task needs at least one", classes));
  if (scores.size() != labels.size() * static_cast<std::size_t>(classes))
    throw InputError(fmt::format("{} scores for {} samples of {} classes (expected {})", scores.size(),
                                 labels.size(), classes, labels.size() * static_cast<std::size_t>(classes)));
  if (labels.empty()) throw InputError("no samples to score");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw InputError(fmt::format("sample {} has label {}, outside [0, {})", i, labels[i], classes));
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i]))
      throw InputError(fmt::format("the score of sample {} for class {} is NaN", i / classes, i % classes));
}

// AUROC of `column` for samples of class `positive`: (rank sum of positives - n+(n+ + 1)/2) / (n+ n-),
// ranks averaged over ties.
double binary_auroc(std::span<const float> scores, std::span<const int> labels, int classes, int column,
                    int positive) {
  const std::size_t n = labels.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto score = [&](std::size_t i) { return scores[i * classes + column]; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score(a) < score(b); });
  double positive_rank_sum = 0;
  std::size_t positives = 0;
  for (std::size_t lo = 0; lo < n;) {
    std::size_t hi = lo;
    while (hi < n && score(order[hi]) == score(order[lo])) ++hi;
    const double rank = 0.5 * static_cast<double>(lo + 1 + hi);  // mean of ranks lo+1 .. hi
    for (std::size_t k = lo; k < hi; ++k)
      if (labels[order[k]] == positive) {
        positive_rank_sum += rank;
        ++positives;
      }
    lo = hi;
  }
  const std::size_t negatives = n - positives;
  if (positives == 0 || negatives == 0)
    throw InputError(fmt::format("AUROC is undefined: {} of {} samples are of class {} (a task needs samples of "
                                 "every class and of more than one class in the evaluation fold)",
                                 positives, n, positive));
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

}  // namespace

double auroc(std::span<const float> scores, std::span<const int> labels, int classes) {
  check_layout(scores, labels, classes);
  if (classes < 2) throw InputError("AUROC is undefined for a task of one class");
  if (classes == 2) return binary_auroc(scores, labels, classes, 1, 1);
  double sum = 0;
  for (int c = 0; c < classes; ++c) sum += binary_auroc(scores, labels, classes, c, c);
  return sum / classes;
}

double balanced_accuracy(std::span<const float> scores, std::span<const int> labels, int classes) {
  check_layout(scores, labels, classes);
  std::vector<std::size_t> total(classes, 0), hits(classes, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* row = scores.data() + i * classes;
    const int predicted = static_cast<int>(std::max_element(row, row + classes) - row);  // first max
    ++total[labels[i]];
    if (predicted == labels[i]) ++hits[labels[i]];
  }
  double sum = 0;
  int present = 0;
  for (int c = 0; c < classes; ++c)
    if (total[c] > 0) {
      sum += static_cast<double>(hits[c]) / static_cast<double>(total[c]);
      ++present;
    }
  return sum / present;
}

double outcome(OutcomeMetric m, std::span<const float> scores, std::span<const int> labels, int classes) {
  return m == OutcomeMetric::AUROC ? auroc(scores, labels, classes) : balanced_accuracy(scores, labels, classes);
}

}  // namespace taskfp::experiments
