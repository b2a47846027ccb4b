// Shared building blocks of the fingerprint metrics: a task's rows (d x b histogram or 1 x d
// mean), row preprocessing and per-feature weights, defined once so that the fast paths and
// the per-pair reference in the tests use the same semantics.
#pragma once

#include <span>
#include <vector>

#include "core/matrix.hpp"
#include "distance/metric_spec.hpp"
#include "fingerprint/fingerprint.hpp"

namespace taskfp {

/// The reference clips at torch.tensor(1/10_000), a float32 value, promoted to float64.
inline constexpr double kClipEpsilon = static_cast<double>(1.0f / 10000.0f);

/// The rows a metric works on: the d x b histogram for binned specs, the 1 x d mean otherwise.
Matrix<double> task_rows(const TaskFingerprint& fp, int bins);

/// A task's rows without copying: the d x b histogram, or the 1 x d mean.
struct RowsView {
  const double* data;
  std::size_t rows, cols;
};
RowsView task_rows_view(const TaskFingerprint& fp, int bins);

/// Preprocesses one row in place (see preprocess_rows).
void preprocess_row(std::span<double> row, Prep prep, double alpha);

/// Preprocesses each row in place, as the reference does over dim=1 (float64):
/// N: x / max(sum|x|, 1e-12); S: softmax; W: unchanged; U: alpha * (1/cols) + (1 - alpha) * x.
void preprocess_rows(Matrix<double>& rows, Prep prep, double alpha);

/// Per-feature weights from a task's mean features: the preprocessing applied to the 1 x d mean,
/// rounded to float32 as the reference's float32 weights are (computed in float64 first, so the
/// rounding is the only deviation; see docs/numerics.md).
std::vector<double> feature_weights(const TaskFingerprint& fp, Prep prep, double alpha);

/// Sum of weights in float64 (the denominator of the weighted average over features).
double weight_sum(std::span<const double> w);

}  // namespace taskfp
