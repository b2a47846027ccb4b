#include "evaluate/distance_inputs.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "store/distance_store.hpp"

namespace taskfp {

namespace fs = std::filesystem;

const std::vector<std::string>& paper_candidate_distances() {
  static const std::vector<std::string> names = {
      "KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "SEMANTIC", "VDNA-PP:NN-1000-BINS",
      "FID", "FED", "MMD-geo-sinkhorn-0.01", "KLD-PP:NN"};
  return names;
}

std::vector<std::string> paper_candidates_in(const std::string& cache_dir) {
  std::vector<std::string> found;
  for (const auto& n : paper_candidate_distances())
    if (fs::exists(fs::path(cache_dir) / "distances" / (n + ".csv"))) found.push_back(n);
  return found;
}

std::vector<DistanceMatrix> load_distance_matrices(const std::vector<std::string>& specs,
                                                   const std::string& cache_dir, FloatParser parser) {
  std::vector<DistanceMatrix> out;
  for (const auto& spec : specs) {
    const auto hash = spec.find(".h5#");
    if (hash != std::string::npos) {
      out.push_back(read_distance_matrix(spec.substr(0, hash + 3), spec.substr(hash + 4)));
    } else if (fs::path(spec).extension() == ".h5") {
      for (const auto& m : distance_store_metrics(spec)) out.push_back(read_distance_matrix(spec, m));
    } else if (fs::path(spec).extension() == ".csv") {
      out.push_back(read_distance_csv(spec, parser));
    } else if (spec == "P2L") {
      // The paper's P2L (w size): KLD-PP:NN's matrix, scored with the source-size meta-feature.
      const auto path = (fs::path(cache_dir) / "distances" / "KLD-PP:NN.csv").string();
      require(fs::exists(path), "distance 'P2L' is KLD-PP:NN with the source-size meta-feature: no file '{}'", path);
      out.push_back(read_distance_csv(path, parser));
      out.back().metric = "P2L";
    } else {
      // A metric name: the matrix of that name in the cache folder (aliases resolve).
      std::string name = spec;
      try {
        name = parse_metric(spec).name;
      } catch (const InputError&) {
      }
      const auto path = (fs::path(cache_dir) / "distances" / (name + ".csv")).string();
      require(fs::exists(path), "distance '{}': no file '{}'. Give a CSV or .h5 path, or a name "
              "of a matrix in <cache>/distances/", spec, path);
      out.push_back(read_distance_csv(path, parser));
    }
  }
  return out;
}

}  // namespace taskfp
