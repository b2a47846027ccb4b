// Fingerprint computation: ranges (quantiles over stacked features), histograms, moments.
#include "fingerprint/fingerprint.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "fingerprint/binning.hpp"

namespace taskfp {

std::vector<std::string> FingerprintSet::names() const {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(t.name);
  return out;
}

const TaskFingerprint& FingerprintSet::at(const std::string& name) const {
  for (const auto& t : tasks)
    if (t.name == name) return t;
  throw InputError(fmt::format("no fingerprint for task '{}'", name));
}

bool FingerprintSet::has_covariance() const {
  return std::all_of(tasks.begin(), tasks.end(),
                     [](const TaskFingerprint& t) { return !t.covariance.empty(); });
}

BinRanges compute_ranges(const FeatureSet& features, const std::vector<std::string>& scaling_subset,
                         double lo_quantile, double hi_quantile) {
  require(0.0 <= lo_quantile && lo_quantile <= hi_quantile && hi_quantile <= 1.0,
          "quantiles must satisfy 0 <= lo <= hi <= 1 (got {} and {})", lo_quantile, hi_quantile);
  require_tasks_present(scaling_subset, features.names(), "the features (scaling subset)");
  std::vector<const TaskFeatures*> parts;
  std::size_t total = 0;
  for (const auto& name : scaling_subset) {
    parts.push_back(&features.at(name));
    total += parts.back()->values.rows;
  }
  const std::size_t d = parts.front()->values.cols;
  BinRanges r;
  r.lo.assign(d, 0.0);
  r.hi.assign(d, 0.0);
  r.scaling_subset = scaling_subset;
  r.lo_quantile = lo_quantile;
  r.hi_quantile = hi_quantile;
  r.provenance = features.provenance;
  r.provenance.feature_dim = static_cast<std::int64_t>(d);

#pragma omp parallel
  {
    std::vector<float> column(total);
#pragma omp for schedule(dynamic, 4)
    for (std::size_t f = 0; f < d; ++f) {
      std::size_t k = 0;
      for (const auto* p : parts)
        for (std::size_t i = 0; i < p->values.rows; ++i) column[k++] = p->values(i, f);
      auto [lo, hi] = numpy_quantile_pair(column, lo_quantile, hi_quantile);
      r.lo[f] = lo;
      r.hi[f] = hi;
    }
  }
  return r;
}

Matrix<std::int64_t> histogram_counts(const Matrix<float>& x, const BinRanges& ranges, int bins) {
  require(bins >= 1, "the number of bins must be positive (got {})", bins);
  require(x.cols == ranges.dim(), "features have {} dimensions, the ranges {}", x.cols,
          ranges.dim());
  const std::size_t d = x.cols;
  std::vector<HistcEdges> edges(d);
  for (std::size_t f = 0; f < d; ++f) edges[f] = histc_edges(ranges.lo[f], ranges.hi[f]);
  Matrix<std::int64_t> counts(d, static_cast<std::size_t>(bins), 0);
  // Blocks of features per thread: each thread reads its slice of every sample row.
  constexpr std::size_t kBlock = 32;
  const std::size_t blocks = (d + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    const std::size_t f0 = blk * kBlock, f1 = std::min(d, f0 + kBlock);
    std::int64_t pos[kBlock];
    for (std::size_t i = 0; i < x.rows; ++i) {
      const float* row = x.data.data() + i * d;
      for (std::size_t f = f0; f < f1; ++f) {
        const auto& e = edges[f];
        pos[f - f0] = histc_bin(torch_clip(row[f], e.clip_lo, e.clip_hi), e, bins);
      }
      for (std::size_t f = f0; f < f1; ++f)
        if (pos[f - f0] >= 0) ++counts(f, static_cast<std::size_t>(pos[f - f0]));
    }
  }
  return counts;
}

Matrix<double> histogram(const Matrix<float>& x, const BinRanges& ranges, int bins) {
  auto counts = histogram_counts(x, ranges, bins);
  Matrix<double> h(counts.rows, counts.cols);
  for (std::size_t f = 0; f < counts.rows; ++f) {
    std::int64_t total = 0;
    for (auto c : counts.row(f)) total += c;
    // The reference divides integer counts by their float64 sum.
    const double denom = static_cast<double>(total);
    for (std::size_t b = 0; b < counts.cols; ++b)
      h(f, b) = static_cast<double>(counts(f, b)) / denom;
  }
  return h;
}

std::vector<double> feature_mean(const Matrix<float>& x) {
  std::vector<double> mean(x.cols, 0.0);
  for (std::size_t i = 0; i < x.rows; ++i)
    for (std::size_t f = 0; f < x.cols; ++f) mean[f] += static_cast<double>(x(i, f));
  for (auto& m : mean) m /= static_cast<double>(x.rows);
  return mean;
}

Matrix<double> feature_covariance(const Matrix<float>& x, const std::vector<double>& mean) {
  const std::size_t n = x.rows, d = x.cols;
  require(n >= 2, "a covariance needs at least 2 samples (got {})", n);
  Matrix<double> centered(n, d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t f = 0; f < d; ++f) centered(i, f) = static_cast<double>(x(i, f)) - mean[f];
  Matrix<double> cov(d, d);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(d), static_cast<int>(n),
              1.0 / static_cast<double>(n - 1), centered.data.data(), static_cast<int>(d), 0.0,
              cov.data.data(), static_cast<int>(d));
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = 0; b < a; ++b) cov(a, b) = cov(b, a);
  return cov;
}

FingerprintSet fingerprint(const FeatureSet& features, const BinRanges& ranges,
                           const FingerprintOptions& options) {
  require(!options.bins.empty(), "give at least one bin count");
  require_compatible(ranges.provenance, "the bin ranges", features.provenance, "the features");
  FingerprintSet out;
  out.provenance = features.provenance;
  out.ranges = ranges;
  out.bins = options.bins;
  std::sort(out.bins.begin(), out.bins.end());
  out.bins.erase(std::unique(out.bins.begin(), out.bins.end()), out.bins.end());
  std::size_t done = 0;
  for (const auto& task : features.tasks) {
    require(task.values.cols == ranges.dim(),
            "task '{}' has {} features, the bin ranges have {}", task.name, task.values.cols,
            ranges.dim());
    TaskFingerprint fp;
    fp.name = task.name;
    fp.n_samples = static_cast<std::int64_t>(task.values.rows);
    fp.mean = feature_mean(task.values);
    if (options.covariance) fp.covariance = feature_covariance(task.values, fp.mean);
    for (int b : out.bins) fp.histograms.emplace(b, histogram(task.values, ranges, b));
    out.tasks.push_back(std::move(fp));
    if (options.progress) options.progress(++done, features.tasks.size());
  }
  return out;
}

}  // namespace taskfp
