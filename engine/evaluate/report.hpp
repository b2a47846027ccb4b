// Writing an evaluation: scores.csv (one row per setup and distance, 17 significant digits),
// one CSV per summary (rows = distances), a Markdown report and SVG figures.
#pragma once

#include <string>
#include <vector>

#include "evaluate/evaluate.hpp"

namespace taskfp {

struct ReportOptions {
  int bootstrap_samples = 1000;
  std::uint64_t seed = 1;
  const DistanceMatrix* heatmap = nullptr;  ///< a matrix to draw (rows = sources), optional
  const TaskSet* tasks = nullptr;           ///< to mark development/validation and groups
  std::string description;                  ///< the setup, one line, for the report header
};

/// Writes every output into `dir` (created if needed); returns the files written.
std::vector<std::string> write_evaluation(const std::string& dir, const Evaluation& e,
                                          const ReportOptions& options);

/// A plain-text table of mean reversed regret per distance and scenario (for the terminal).
std::string regret_table_text(const Evaluation& e);

}  // namespace taskfp
