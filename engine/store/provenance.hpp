// Provenance of features and fingerprints: what made them, so that mismatches are refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskfp {

/// Describes how features were made. Fingerprints are only comparable when backbone, weights
/// checksum, preprocessing and feature size agree (and, for fingerprints, the bin ranges).
struct Provenance {
  std::string backbone = "unknown";          ///< e.g. "resnet34"
  std::string weights = "unknown";           ///< e.g. "torchvision ImageNet1K_V1"
  std::string weights_checksum = "unknown";  ///< checksum of the weights file
  std::string preprocessing = "unknown";     ///< e.g. "baseline256"
  std::string origin = "unknown";            ///< how the features got here (import, synthetic, ...)
  std::int64_t feature_dim = 0;

  /// Differences that make two sets of features incomparable, as "field: a vs b" lines.
  [[nodiscard]] std::vector<std::string> mismatches(const Provenance& other) const;
};

/// Throws ProvenanceError listing the mismatches between `a` (named `a_name`) and `b`.
void require_compatible(const Provenance& a, const std::string& a_name, const Provenance& b,
                        const std::string& b_name);

}  // namespace taskfp
