// Header attributes shared by every taskfp store (schema, kind, provenance).
#pragma once

#include <cstdint>
#include <string>

#include "io/hdf5.hpp"
#include "store/provenance.hpp"

namespace taskfp {

/// Task names become HDF5 group names: refuse '/' and empty names.
void validate_task_name(const std::string& name);

void write_header(h5::hid root, const std::string& kind, std::int64_t schema_version,
                  const Provenance& provenance, std::int64_t feature_dim);
/// Reads and checks the header: InputError when the file is another kind of store or a newer
/// schema than this build understands.
Provenance read_header(h5::hid root, const std::string& path, const std::string& kind,
                       std::int64_t max_schema_version);

}  // namespace taskfp
