// Fingerprint store I/O.
#include "store/fingerprint_store.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"
#include "store/store_common.hpp"

namespace taskfp {
namespace {

std::string bins_text(const std::vector<int>& bins) {
  std::string s;
  for (int b : bins) s += (s.empty() ? "" : ",") + std::to_string(b);
  return s;
}

// Fingerprints come from float32 features: no mean, range or quantile beyond float32's largest
// value, no covariance beyond (2 x that)^2. Larger values can only come from a damaged or forged
// store, and would overflow the metrics (FID, CORAL) into infinities.
constexpr double kMaxFeature = std::numeric_limits<float>::max();
constexpr double kMaxCovariance = 4.0 * kMaxFeature * kMaxFeature;

// Ranges as the method needs them: one finite, ordered pair per feature (feature_dim of them).
BinRanges read_ranges_from(h5::hid file, const std::string& path, const Provenance& provenance) {
  BinRanges r;
  h5::Handle g = h5::group(file, "ranges");
  r.lo = h5::read_vector(g.get(), "lo");
  r.hi = h5::read_vector(g.get(), "hi");
  r.scaling_subset = h5::read_strings(g.get(), "scaling_subset");
  r.lo_quantile = h5::attr_double(g.get(), "lo_quantile");
  r.hi_quantile = h5::attr_double(g.get(), "hi_quantile");
  r.provenance = provenance;
  const auto d = static_cast<std::size_t>(provenance.feature_dim);
  require(provenance.feature_dim > 0 && r.lo.size() == d && r.hi.size() == d,
          "'{}': the bin ranges have {} lower and {} upper limits for {} features", path, r.lo.size(),
          r.hi.size(), provenance.feature_dim);
  for (std::size_t f = 0; f < d; ++f)
    require(std::abs(r.lo[f]) <= kMaxFeature && std::abs(r.hi[f]) <= kMaxFeature && r.lo[f] <= r.hi[f],
            "'{}': the bin range of feature {} is [{}, {}]; ranges are quantiles of float32 features, "
            "finite with lower <= upper",
            path, f, r.lo[f], r.hi[f]);
  require(std::isfinite(r.lo_quantile) && std::isfinite(r.hi_quantile) && 0 <= r.lo_quantile &&
              r.lo_quantile <= r.hi_quantile && r.hi_quantile <= 1,
          "'{}': the range quantiles {} and {} must satisfy 0 <= lower <= upper <= 1", path,
          r.lo_quantile, r.hi_quantile);
  return r;
}

// What the distances assume of a task's fingerprint: finite means and covariances (d x d) within
// what float32 features can give, and histograms whose rows are probabilities.
void check_task(const TaskFingerprint& t, std::size_t d, const std::string& path) {
  require(t.n_samples >= 1, "'{}': task '{}' claims {} samples", path, t.name, t.n_samples);
  for (std::size_t f = 0; f < t.mean.size(); ++f)
    require(std::abs(t.mean[f]) <= kMaxFeature,
            "'{}': task '{}' has a mean of {} for feature {}, not a mean of float32 features", path,
            t.name, t.mean[f], f);
  if (!t.covariance.empty()) {
    for (std::size_t k = 0; k < t.covariance.data.size(); ++k)
      require(std::abs(t.covariance.data[k]) <= kMaxCovariance,
              "'{}': task '{}' has a covariance of {} at features {}, {}, not one of float32 "
              "features",
              path, t.name, t.covariance.data[k], k / d, k % d);
  }
  for (const auto& [b, h] : t.histograms)
    for (std::size_t f = 0; f < h.rows; ++f) {
      double sum = 0;
      for (double v : h.row(f)) {
        require(std::isfinite(v) && v >= 0,
                "'{}': task '{}' has a histogram value {} (hist_{}, feature {}); histograms hold "
                "probabilities",
                path, t.name, v, b, f);
        sum += v;
      }
      require(std::abs(sum - 1.0) <= 1e-6,
              "'{}': task '{}' has a histogram row summing to {} (hist_{}, feature {}), not 1", path,
              t.name, sum, b, f);
    }
}

}  // namespace

void write_fingerprint_store(const std::string& path, const FingerprintSet& set) {
  require(!set.tasks.empty(), "no fingerprints to write to '{}'", path);
  h5::AtomicWrite out(path);
  h5::Handle root = h5::group(out.file(), "/");
  write_header(root.get(), "fingerprints", kFingerprintSchemaVersion, set.provenance,
               static_cast<std::int64_t>(set.dim()));
  h5::set_attr(root.get(), "bins", bins_text(set.bins));
  {
    h5::Handle g = h5::group(out.file(), "ranges", true);
    h5::write(g.get(), "lo", set.ranges.lo);
    h5::write(g.get(), "hi", set.ranges.hi);
    h5::write(g.get(), "scaling_subset", set.ranges.scaling_subset);
    h5::set_attr(g.get(), "lo_quantile", set.ranges.lo_quantile);
    h5::set_attr(g.get(), "hi_quantile", set.ranges.hi_quantile);
  }
  h5::Handle tasks = h5::group(out.file(), "tasks", true);
  for (const auto& t : set.tasks) {
    validate_task_name(t.name);
    h5::Handle g = h5::group(tasks.get(), t.name, true);
    h5::set_attr(g.get(), "n_samples", t.n_samples);
    h5::write(g.get(), "mean", t.mean);
    if (!t.covariance.empty()) h5::write(g.get(), "covariance", t.covariance);
    for (const auto& [b, h] : t.histograms) h5::write(g.get(), "hist_" + std::to_string(b), h);
  }
  out.commit();
}

BinRanges read_ranges(const std::string& path) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  auto prov = read_header(root.get(), path, "fingerprints", kFingerprintSchemaVersion);
  return read_ranges_from(file.get(), path, prov);
}

FingerprintSet read_fingerprint_store(const std::string& path,
                                      const FingerprintLoadOptions& options) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  FingerprintSet set;
  set.provenance = read_header(root.get(), path, "fingerprints", kFingerprintSchemaVersion);
  set.ranges = read_ranges_from(file.get(), path, set.provenance);
  for (const auto& part : split(h5::attr_string(root.get(), "bins"), ',')) {
    auto b = parse_number<int>(trim(part));
    require(b && *b >= 1 && *b <= (1 << 24), "'{}': the bins attribute lists '{}', not a bin count", path, part);
    set.bins.push_back(*b);
  }
  if (options.bins) {
    for (int b : *options.bins)
      require(std::find(set.bins.begin(), set.bins.end(), b) != set.bins.end(),
              "'{}' has no {}-bin histograms (it has: {}); re-run `taskfp fingerprint --bins {}`",
              path, b, bins_text(set.bins), b);
    set.bins = *options.bins;
  }
  auto available = h5::children(file.get(), "tasks");
  auto wanted = options.tasks.value_or(available);
  require_tasks_present(wanted, available, "fingerprint store '" + path + "'");
  const std::size_t d = set.dim();
  for (const auto& name : wanted) {
    h5::Handle g = h5::group(file.get(), "tasks/" + name);
    TaskFingerprint t;
    t.name = name;
    t.n_samples = h5::attr_int(g.get(), "n_samples");
    t.mean = h5::read_vector(g.get(), "mean");
    require(t.mean.size() == d, "'{}': task '{}' has a mean of size {}, expected {}", path, name,
            t.mean.size(), d);
    if (options.covariance && h5::exists(g.get(), "covariance")) {
      const auto dims = h5::shape(g.get(), "covariance");  // checked before reading d x d values
      require(dims.size() == 2 && dims[0] == d && dims[1] == d,
              "'{}': task '{}' has a covariance of shape ({}), expected {} x {}", path, name,
              fmt::join(dims, " x "), d, d);
      t.covariance = h5::read_f64(g.get(), "covariance");
    }
    for (int b : set.bins) {
      const std::string hist = "hist_" + std::to_string(b);
      const auto dims = h5::shape(g.get(), hist);
      require(dims.size() == 2 && dims[0] == d && dims[1] == static_cast<std::uint64_t>(b),
              "'{}': task '{}' has {} of shape ({}), expected {} x {}", path, name, hist,
              fmt::join(dims, " x "), d, b);
      t.histograms.emplace(b, h5::read_f64(g.get(), hist));
    }
    check_task(t, d, path);
    set.tasks.push_back(std::move(t));
  }
  return set;
}

}  // namespace taskfp
