// Distance store and CSV I/O.
#include "store/distance_store.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "io/csv.hpp"
#include "io/hdf5.hpp"
#include "store/store_common.hpp"

namespace taskfp {

void write_distance_store(const std::string& path, const std::vector<DistanceMatrix>& matrices,
                          const Provenance& provenance, OutputSet* set) {
  require(!matrices.empty(), "no distance matrices to write to '{}'", path);
  h5::AtomicWrite out(path, set);
  h5::Handle root = h5::group(out.file(), "/");
  write_header(root.get(), "distances", kDistanceSchemaVersion, provenance, provenance.feature_dim);
  h5::Handle all = h5::group(out.file(), "matrices", true);
  for (const auto& m : matrices) {
    require(m.metric.find('/') == std::string::npos, "metric name '{}' contains '/'", m.metric);
    h5::Handle g = h5::group(all.get(), m.metric, true);
    h5::set_attr(g.get(), "metric", m.metric);
    h5::set_attr(g.get(), "orientation", std::string("rows = sources, columns = targets"));
    h5::write(g.get(), "values", m.values);
    h5::write(g.get(), "sources", m.sources);
    h5::write(g.get(), "targets", m.targets);
  }
  out.commit();
}

std::vector<std::string> distance_store_metrics(const std::string& path) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  read_header(root.get(), path, "distances", kDistanceSchemaVersion);
  return h5::children(file.get(), "matrices");
}

DistanceMatrix read_distance_matrix(const std::string& path, const std::string& metric) {
  h5::Handle file = h5::open_read(path);
  h5::Handle root = h5::group(file.get(), "/");
  read_header(root.get(), path, "distances", kDistanceSchemaVersion);
  require(h5::exists(file.get(), "matrices/" + metric), "'{}' holds no matrix '{}'", path, metric);
  h5::Handle g = h5::group(file.get(), "matrices/" + metric);
  DistanceMatrix m;
  m.metric = metric;
  m.values = h5::read_f64(g.get(), "values");
  m.sources = h5::read_strings(g.get(), "sources");
  m.targets = h5::read_strings(g.get(), "targets");
  require(m.values.rows == m.sources.size() && m.values.cols == m.targets.size(),
          "'{}': matrix '{}' does not match its source/target lists", path, metric);
  return m;
}

void write_distance_csv(const std::string& path, const DistanceMatrix& m, OutputSet* set) {
  write_matrix_csv(path, LabeledMatrix{m.sources, m.targets, m.values}, set);
}

DistanceMatrix read_distance_csv(const std::string& path, FloatParser parser) {
  auto lm = read_matrix_csv(path, parser);
  DistanceMatrix m;
  m.metric = std::filesystem::path(path).stem().string();
  m.sources = std::move(lm.row_names);
  m.targets = std::move(lm.col_names);
  m.values = std::move(lm.values);
  return m;
}

std::string distance_csv_name(const std::string& metric) { return metric + ".csv"; }

}  // namespace taskfp
