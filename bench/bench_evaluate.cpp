// Evaluation stage: the full tripled evaluation of the paper's 8 candidate distances
// (4 scenarios x 2 metrics x 3 single-seed aggregates x 43 validation targets x 5 meta-metrics)
// on its released outcomes. Needs the paper's cache folder: TASKFP_PAPER_CACHE (environment).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "evaluate/evaluate.hpp"
#include "store/distance_store.hpp"

namespace taskfp {
namespace {

void BM_TripledEvaluation(benchmark::State& state) {
  const char* cache = std::getenv("TASKFP_PAPER_CACHE");
  if (!cache || !std::filesystem::exists(std::string(cache) + "/exp")) {
    state.SkipWithError("set TASKFP_PAPER_CACHE to the paper's cache folder");
    return;
  }
  const std::vector<std::string> names = {"KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "SEMANTIC",
                                          "VDNA-PP:NN-1000-BINS", "FID", "FED", "MMD-geo-sinkhorn-0.01",
                                          "KLD-PP:NN"};
  auto tasks = TaskSet::load(TASKFP_DEFAULT_TASKSET);
  EvaluationConfig cfg;
  cfg.cache_dir = cache;
  cfg.aggregates = {SeedAggregate::First, SeedAggregate::Second, SeedAggregate::Third};
  std::size_t rows = 0;
  for (auto _ : state) {
    // Reading the inputs is part of the work, as it is for the reference script.
    std::vector<DistanceMatrix> d;
    for (const auto& n : names)
      d.push_back(read_distance_csv(std::string(cache) + "/distances/" + n + ".csv", FloatParser::PandasDefault));
    auto info = read_task_info(std::string(cache) + "/task_infos.csv");
    auto ev = evaluate(d, tasks, info, cfg);
    rows = ev.rows.size();
    benchmark::DoNotOptimize(ev.rows.data());
  }
  state.counters["scores"] = static_cast<double>(rows);
}
BENCHMARK(BM_TripledEvaluation)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace taskfp

BENCHMARK_MAIN();
