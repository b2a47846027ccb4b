// Fingerprint store I/O.
#include "store/fingerprint_store.hpp"

#include <algorithm>

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

BinRanges read_ranges_from(h5::hid file, const Provenance& provenance) {
  BinRanges r;
  h5::Handle g = h5::group(file, "ranges");
  r.lo = h5::read_vector(g.get(), "lo");
  r.hi = h5::read_vector(g.get(), "hi");
  r.scaling_subset = h5::read_strings(g.get(), "scaling_subset");
  r.lo_quantile = h5::attr_double(g.get(), "lo_quantile");
  r.hi_quantile = h5::attr_double(g.get(), "hi_quantile");
  r.provenance = provenance;
  return r;
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
  return read_ranges_from(file.get(), prov);
}

FingerprintSet read_fingerprint_store(const std::string& path,
                                      const FingerprintLoadOptions& options) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  FingerprintSet set;
  set.provenance = read_header(root.get(), path, "fingerprints", kFingerprintSchemaVersion);
  set.ranges = read_ranges_from(file.get(), set.provenance);
  for (const auto& part : split(h5::attr_string(root.get(), "bins"), ','))
    if (auto b = parse_number<int>(trim(part))) set.bins.push_back(*b);
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
    if (options.covariance && h5::exists(g.get(), "covariance"))
      t.covariance = h5::read_f64(g.get(), "covariance");
    for (int b : set.bins) {
      t.histograms.emplace(b, h5::read_f64(g.get(), "hist_" + std::to_string(b)));
      const auto& h = t.histograms.at(b);
      require(h.rows == d && h.cols == static_cast<std::size_t>(b),
              "'{}': task '{}' histogram hist_{} is {} x {}, expected {} x {}", path, name, b,
              h.rows, h.cols, d, b);
    }
    set.tasks.push_back(std::move(t));
  }
  return set;
}

}  // namespace taskfp
