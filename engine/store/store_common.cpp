// Store header read/write.
#include "store/store_common.hpp"

#include "core/error.hpp"

namespace taskfp {

void validate_task_name(const std::string& name) {
  require(!name.empty(), "a task has an empty name");
  require(name.find('/') == std::string::npos && name != "." && name != "..",
          "task name '{}' contains '/' or is '.'/'..'; rename the task", name);
}

void write_header(h5::hid root, const std::string& kind, std::int64_t schema_version,
                  const Provenance& p, std::int64_t feature_dim) {
  h5::set_attr(root, "taskfp_kind", kind);
  h5::set_attr(root, "schema_version", schema_version);
  h5::set_attr(root, "tool_version", std::string("taskfp ") + TASKFP_VERSION);
  h5::set_attr(root, "backbone", p.backbone);
  h5::set_attr(root, "weights", p.weights);
  h5::set_attr(root, "weights_checksum", p.weights_checksum);
  h5::set_attr(root, "preprocessing", p.preprocessing);
  h5::set_attr(root, "origin", p.origin);
  h5::set_attr(root, "feature_dim", feature_dim);
}

Provenance read_header(h5::hid root, const std::string& path, const std::string& kind,
                       std::int64_t max_schema_version) {
  require(h5::has_attr(root, "taskfp_kind"), "'{}' is an HDF5 file but not a taskfp store", path);
  auto found = h5::attr_string(root, "taskfp_kind");
  require(found == kind, "'{}' is a {} store, expected a {} store", path, found, kind);
  auto version = h5::attr_int(root, "schema_version");
  require(version >= 1 && version <= max_schema_version,
          "'{}' has schema version {}, this taskfp reads up to {}: update taskfp", path, version,
          max_schema_version);
  Provenance p;
  p.backbone = h5::attr_string(root, "backbone");
  p.weights = h5::attr_string(root, "weights");
  p.weights_checksum = h5::attr_string(root, "weights_checksum");
  p.preprocessing = h5::attr_string(root, "preprocessing");
  p.origin = h5::attr_string(root, "origin");
  p.feature_dim = h5::attr_int(root, "feature_dim");
  return p;
}

}  // namespace taskfp
