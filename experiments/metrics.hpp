// Outcome metrics of a transfer job, recomputed from the class scores a job saves: AUROC
// (one-vs-rest, macro average) and balanced accuracy (macro recall), with scikit-learn's
// semantics (roc_auc_score, balanced_accuracy_score), the reference the tests check against.
#pragma once

#include <span>
#include <string>

namespace taskfp::experiments {

/// The two outcome metrics of the paper's tables, named as in its file names.
enum class OutcomeMetric { AUROC, BA };
std::string metric_name(OutcomeMetric m);  ///< "AUROC", "BA"
/// "AUROC"/"auroc", "BA"/"ba"/"balanced_accuracy"; InputError otherwise.
OutcomeMetric parse_metric(const std::string& text);

/// AUROC of class scores. `scores`: n x classes, row-major (one row per sample, e.g. softmax
/// probabilities); `labels`: n values in [0, classes). Two classes: the AUROC of column 1 for
/// label 1 (scikit-learn's binary case). More: the mean over classes of the AUROC of column c for
/// label c against the rest (scikit-learn's multi_class="ovr", average="macro"). Ties count one
/// half (Mann-Whitney U), as scikit-learn's trapezoids do.
/// Throws InputError when a class has no sample or every sample is of one class (AUROC is
/// undefined there), or when the sizes disagree or a score is NaN.
double auroc(std::span<const float> scores, std::span<const int> labels, int classes);

/// Balanced accuracy: the mean over the classes present in `labels` of the share of their
/// samples whose highest-scoring class (the first on ties, as numpy's argmax) is theirs. Classes
/// that no sample has are left out, as scikit-learn does (it warns). Same layout and errors as
/// auroc(), except that one class is allowed.
double balanced_accuracy(std::span<const float> scores, std::span<const int> labels, int classes);

/// Either metric by name.
double outcome(OutcomeMetric m, std::span<const float> scores, std::span<const int> labels, int classes);

}  // namespace taskfp::experiments
