// Provenance comparison.
#include "store/provenance.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"

namespace taskfp {

std::vector<std::string> Provenance::mismatches(const Provenance& o) const {
  std::vector<std::string> out;
  auto cmp = [&](const char* field, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(fmt::format("{}: '{}' vs '{}'", field, a, b));
  };
  cmp("backbone", backbone, o.backbone);
  cmp("weights_checksum", weights_checksum, o.weights_checksum);
  cmp("preprocessing", preprocessing, o.preprocessing);
  if (feature_dim != o.feature_dim)
    out.push_back(fmt::format("feature_dim: {} vs {}", feature_dim, o.feature_dim));
  return out;
}

void require_compatible(const Provenance& a, const std::string& a_name, const Provenance& b,
                        const std::string& b_name) {
  auto diffs = a.mismatches(b);
  if (diffs.empty()) return;
  throw ProvenanceError(fmt::format(
      "{} and {} were made differently and must not be compared ({}): fingerprints are only "
      "comparable with identical backbone, weights, preprocessing and feature size",
      a_name, b_name, fmt::join(diffs, "; ")));
}

}  // namespace taskfp
