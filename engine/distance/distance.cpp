// compute_distance: a parsed spec dispatched to its family's implementation, and what each metric needs
// from its inputs (distance.hpp).
#include <algorithm>

#include "core/error.hpp"
#include "core/task_list.hpp"
#include "distance/distance.hpp"
#include "distance/kl_family.hpp"
#include "distance/mmd.hpp"
#include "distance/sinkhorn.hpp"
#include "distance/baseline_distances.hpp"
#include "distance/fed.hpp"

namespace taskfp {

MetricSetNeeds metric_needs(const std::vector<MetricSpec>& specs) {
  MetricSetNeeds all;
  for (const auto& spec : specs) {
    const auto n = metric_needs(spec);
    if (n.bins > 0 && std::find(all.bins.begin(), all.bins.end(), n.bins) == all.bins.end()) all.bins.push_back(n.bins);
    all.covariance |= n.covariance;
    all.fingerprints |= n.fingerprints;
    all.task_info |= n.task_info;
    all.features |= n.features;
    all.fisher |= n.fisher;
  }
  std::sort(all.bins.begin(), all.bins.end());
  return all;
}

std::vector<MetricSpec> parse_metrics(const std::vector<std::string>& texts) {
  std::vector<MetricSpec> specs;
  for (const auto& text : texts) {
    auto spec = parse_metric(text);
    if (std::none_of(specs.begin(), specs.end(), [&](const MetricSpec& s) { return s.name == spec.name; }))
      specs.push_back(std::move(spec));
  }
  return specs;
}

MetricNeeds metric_needs(const MetricSpec& spec) {
  MetricNeeds n;
  n.bins = spec.bins;
  switch (spec.family) {
    case MetricFamily::FID: n.covariance = true; break;
    case MetricFamily::MMD:
      if (spec.mmd_kernel == "coral") {
        n.covariance = true;
      } else {
        n.fingerprints = false;
        n.features = true;
      }
      break;
    case MetricFamily::SINKHORN:
      n.fingerprints = false;
      n.features = true;
      break;
    case MetricFamily::SEMANTIC:
      n.fingerprints = false;
      n.task_info = true;
      break;
    case MetricFamily::FED:
      n.fingerprints = false;
      n.fisher = true;
      break;
    default: break;
  }
  return n;
}

namespace {

// The metric's computation, once compute_distance has checked the inputs.
DistanceMatrix dispatch(const MetricSpec& spec, const DistanceInputs& in,
                        const DistanceRequest& req) {
  if (spec.family == MetricFamily::SINKHORN)
    return sinkhorn_matrix(spec, *in.features, req.sources, req.targets, req.progress, *req.backend, req.hold_bytes);
  if (spec.family == MetricFamily::FED)
    return fed_matrix(*in.fisher, req.sources, req.targets, req.progress);
  if (metric_needs(spec).features)
    return mmd_kernel_matrix(spec, *in.features, req.sources, req.targets, req.progress);
  const auto& fps = *in.fingerprints;
  switch (spec.family) {
    case MetricFamily::KLD: return kld_matrix(spec, fps, req.sources, req.targets, nullptr, *req.backend);
    case MetricFamily::JS: return js_matrix(spec, fps, req.sources, req.targets, req.progress);
    case MetricFamily::VDNA:
    case MetricFamily::EMD_AVG: return cdf_l1_matrix(spec, fps, req.sources, req.targets);
    case MetricFamily::COS: return cosine_matrix(spec, fps, req.sources, req.targets);
    case MetricFamily::FID: return fid_matrix(fps, req.sources, req.targets, req.progress);
    case MetricFamily::MMD: return coral_matrix(spec, fps, req.sources, req.targets);
    case MetricFamily::SINKHORN: break;  // above
    case MetricFamily::SEMANTIC: return semantic_matrix(*in.task_info, req.sources, req.targets);
    case MetricFamily::FED: break;  // above
  }
  throw InputError("unsupported metric " + spec.name);
}


}  // namespace

void check_distance_inputs(const MetricSpec& spec, const DistanceInputs& in, const DistanceRequest& req) {
  const auto needs = metric_needs(spec);
  require(!req.sources.empty() && !req.targets.empty(), "{}: no sources or no targets", spec.name);
  if (needs.task_info) {
    require(in.task_info != nullptr,
            "{} needs task metadata: pass --task-info (a task_infos.csv like the paper's)", spec.name);
    std::vector<std::string> bases;
    for (const auto& v : {req.sources, req.targets})
      for (const auto& n : v) bases.push_back(base_task_name(n));
    std::vector<std::string> known;
    for (const auto& r : in.task_info->rows()) known.push_back(r.name);
    require_tasks_present(bases, known, "the task info table");
  }
  if (needs.features) {
    require(in.features != nullptr,
            "{} compares raw features: pass --features (a features store or npy folder)", spec.name);
    const auto names = in.features->names();
    require_tasks_present(req.sources, names, "the features (sources)");
    require_tasks_present(req.targets, names, "the features (targets)");
  }
  if (needs.fisher) {
    require(in.fisher != nullptr, "{} compares Fisher embeddings: pass --fisher (a store `taskfp fisher` wrote)",
            spec.name);
    const auto names = in.fisher->names();
    require_tasks_present(req.sources, names, "the Fisher embeddings (sources)");
    require_tasks_present(req.targets, names, "the Fisher embeddings (targets)");
  }
  if (needs.fingerprints) {
    require(in.fingerprints != nullptr, "{} needs a fingerprint store", spec.name);
    const auto names = in.fingerprints->names();
    require_tasks_present(req.sources, names, "the fingerprints (sources)");
    require_tasks_present(req.targets, names, "the fingerprints (targets)");
    // Checked here, before any parallel region (exceptions must not cross OpenMP regions).
    if (needs.covariance)
      for (const auto* list : {&req.sources, &req.targets})
        for (const auto& n : *list)
          require(!in.fingerprints->at(n).covariance.empty(),
                  "{} needs covariances; task '{}' has none: fingerprint it without "
                  "--no-covariance",
                  spec.name, n);
    if (needs.bins > 0) {
      const auto& b = in.fingerprints->bins;
      require(std::find(b.begin(), b.end(), needs.bins) != b.end(),
              "{} needs {}-bin histograms; re-run `taskfp fingerprint --bins {}`", spec.name,
              needs.bins, needs.bins);
      for (const auto* list : {&req.sources, &req.targets})
        for (const auto& n : *list)
          require(in.fingerprints->at(n).histograms.count(needs.bins) == 1,
                  "{}: task '{}' has no {}-bin histogram", spec.name, n, needs.bins);
    }
  }
}

DistanceMatrix compute_distance(const MetricSpec& spec, const DistanceInputs& in,
                                const DistanceRequest& req) {
  check_distance_inputs(spec, in, req);
  auto out = dispatch(spec, in, req);
  if (!req.backend->is_host() && spec.family != MetricFamily::KLD && spec.family != MetricFamily::SINKHORN)
    out.warnings.push_back(fmt::format("{}: computed on the CPU (the {} backend covers the KL family and the "
                                       "Sinkhorn divergence)", spec.name, req.backend->name()));
  return out;
}

}  // namespace taskfp
