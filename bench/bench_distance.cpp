// Distance stage at the paper's scale (127 tasks, d = 512): (a) the GEMM path with its split into
// preparation and GEMM phase, (b) the per-pair C++ reference on a subset of pairs, (d) a bare
// DGEMM of the bKLD shape. bench/reference_bkld.py is baseline (c); scripts/bench.sh runs all.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compute/cpu_softmin.hpp"
#include "distance/distance.hpp"
#include "distance/kl_family.hpp"
#include "reference/random_fingerprints.hpp"
#include "reference/reference_metrics.hpp"

namespace taskfp {
namespace {

constexpr std::size_t kTasks = 127, kDim = 512;
constexpr const char* kSmall = "KLD-PP:NS-W:TS-100-BINS";  // bKLD(small)
constexpr const char* kLarge = "KLD-PP:NS-1000-BINS";      // bKLD(large)

// Wall time in milliseconds (the work is multithreaded); 3 repetitions with their min as well.
void Wall(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
void Repeated(benchmark::internal::Benchmark* b) {
  Wall(b);
  b->Repetitions(3)->ComputeStatistics(
      "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

const FingerprintSet& data() {
  static const FingerprintSet fps = test::random_fingerprints(kTasks, kDim, {100, 1000}, 1, 0.35);
  return fps;
}

std::vector<std::string> first(std::size_t n) {
  auto all = data().names();
  all.resize(n);
  return all;
}

// The GEMM path's full 127 x 127 matrix, once per metric (for checking the per-pair reference).
const Matrix<double>& full_matrix(const std::string& spec_text) {
  static std::map<std::string, Matrix<double>> cache;
  auto it = cache.find(spec_text);
  if (it == cache.end()) {
    auto m = compute_distance(parse_metric(spec_text), {&data(), nullptr, nullptr},
                              {data().names(), data().names(), {}});
    it = cache.emplace(spec_text, std::move(m.values)).first;
  }
  return it->second;
}

// (a) The GEMM path: n_sources x 127 targets. compute_distance dispatches KLD specs to
// kld_matrix; calling it directly gives its phase split (wall seconds per matrix): `prepare_s`
// (normalising, log-softmax, p log p row terms, weights, buffers) and `gemm_s` (the BLAS calls).
void BM_GemmPath(benchmark::State& state, const char* spec_text) {
  const auto spec = parse_metric(spec_text);
  const auto sources = first(static_cast<std::size_t>(state.range(0)));
  const auto targets = data().names();
  KldPhases sum;
  for (auto _ : state) {
    KldPhases phases;
    auto m = kld_matrix(spec, data(), sources, targets, &phases);
    benchmark::DoNotOptimize(m.values.data.data());
    sum.prepare += phases.prepare;
    sum.gemm += phases.gemm;
  }
  state.counters["sources"] = static_cast<double>(sources.size());
  state.counters["targets"] = static_cast<double>(targets.size());
  state.counters["prepare_s"] = benchmark::Counter(sum.prepare, benchmark::Counter::kAvgIterations);
  state.counters["gemm_s"] = benchmark::Counter(sum.gemm, benchmark::Counter::kAvgIterations);
}
BENCHMARK_CAPTURE(BM_GemmPath, bkld_small, kSmall)->ArgName("sources")->Arg(71)->Arg(127)
    ->Apply(Repeated);
BENCHMARK_CAPTURE(BM_GemmPath, bkld_large, kLarge)->ArgName("sources")->Arg(71)->Arg(127)
    ->Apply(Repeated);

// Row-major C = A B^T with A m x k, B n x k: the call the GEMM path makes.
void gemm_abt(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k,
              double* c) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0, a, static_cast<int>(k), b, static_cast<int>(k), 0.0, c,
              static_cast<int>(n));
}

// Random doubles in [0, 1) (splitmix64), filled in parallel.
std::vector<double> random_buffer(std::size_t n, std::uint64_t seed) {
  std::vector<double> p(n);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    p[i] = static_cast<double>((x ^ (x >> 31)) >> 11) * 0x1.0p-53;
  }
  return p;
}

// (d) A bare DGEMM of the bKLD shape: (127 x d*b) times (d*b x 127), one call on OpenBLAS's own
// threads (as many as taskfp's), as a plain BLAS user would make it. taskfp's GEMM path instead
// runs fixed single-threaded tiles on its own threads (core/blas.hpp), for bits that do not
// depend on threads or ranks: this is what that costs.
// C = A B^T of random A (m x k) and B (n x k), one call per iteration on OpenBLAS's own threads.
void time_bare_dgemm(benchmark::State& state, std::size_t m, std::size_t n, std::size_t k) {
  const auto a = random_buffer(m * k, 3), b = random_buffer(n * k, 4);
  std::vector<double> c(m * n);
  openblas_set_num_threads(omp_get_max_threads());
  for (auto _ : state) {
    gemm_abt(a.data(), m, b.data(), n, k, c.data());
    benchmark::DoNotOptimize(c.data());
  }
  openblas_set_num_threads(1);  // back to what taskfp's paths expect
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m * n) * static_cast<double>(k),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
void BM_BareDgemm(benchmark::State& state) {
  time_bare_dgemm(state, kTasks, kTasks, kDim * static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_BareDgemm)->ArgName("bins")->Arg(100)->Arg(1000)->Apply(Repeated);

// The Sinkhorn divergence's GEMM phase: one cost matrix C(x, y) of two clouds of n x 512 points as
// the CPU backend makes it (compute::half_squared_distances: the GEMM in fixed 128 x 128 tiles,
// one single-threaded call each on taskfp's threads, then the norms), against a bare DGEMM of the
// same shape on OpenBLAS's own threads (BM_SinkhornBareDgemm).
std::vector<double> row_norms(const std::vector<double>& x) {
  std::vector<double> out(x.size() / kDim);
  for (std::size_t i = 0; i < out.size(); ++i)
    for (std::size_t k = 0; k < kDim; ++k) out[i] += x[i * kDim + k] * x[i * kDim + k];
  return out;
}
void BM_SinkhornCostMatrix(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto x = random_buffer(n * kDim, 5), y = random_buffer(n * kDim, 6);
  const auto nx = row_norms(x), ny = row_norms(y);
  for (auto _ : state) {
    auto c = compute::half_squared_distances(x.data(), nx.data(), n, y.data(), ny.data(), n, kDim, compute::cpu());
    benchmark::DoNotOptimize(c.data.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(n * n * kDim),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SinkhornCostMatrix)->ArgName("points")->Arg(2000)->Arg(10000)->Apply(Repeated);
void BM_SinkhornBareDgemm(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  time_bare_dgemm(state, n, n, kDim);
}
BENCHMARK(BM_SinkhornBareDgemm)->ArgName("points")->Arg(2000)->Arg(10000)->Apply(Repeated);

// (b) The per-pair C++ reference (tests/reference/reference_metrics.hpp, one thread, as the
// paper's loop is): all 127 sources for the first `targets` targets, diagonal skipped. Too slow
// for the full matrix at b = 1000, so a subset is timed; the rate extrapolates to the 16,002
// off-diagonal pairs of 127 x 127 (exactly: per-pair work does not depend on the pair). Also
// checks the subset against the GEMM path (max relative difference).
void BM_PerPairReference(benchmark::State& state, const char* spec_text) {
  const auto spec = parse_metric(spec_text);
  const auto names = data().names();
  const std::size_t n_targets = static_cast<std::size_t>(state.range(0));
  const auto& gemm = full_matrix(spec_text);
  std::vector<double> values;
  for (auto _ : state) {
    values.clear();
    for (std::size_t t = 0; t < n_targets; ++t)
      for (std::size_t s = 0; s < names.size(); ++s)
        if (s != t)
          values.push_back(reference::kld_pair(spec, data().at(names[s]), data().at(names[t])));
    benchmark::DoNotOptimize(values.data());
  }
  double max_rel = 0.0;
  std::size_t k = 0;
  for (std::size_t t = 0; t < n_targets; ++t)
    for (std::size_t s = 0; s < names.size(); ++s)
      if (s != t) {
        max_rel = std::max(max_rel, std::fabs(values[k] - gemm(s, t)) / std::fabs(values[k]));
        ++k;
      }
  state.counters["pairs"] = static_cast<double>(values.size());
  state.counters["full_pairs"] = static_cast<double>(kTasks * (kTasks - 1));
  state.counters["max_rel_diff_vs_gemm"] = max_rel;
}
// Iterations(1): each run is seconds long; the pair count makes the rate precise enough.
BENCHMARK_CAPTURE(BM_PerPairReference, bkld_small, kSmall)->ArgName("targets")->Arg(8)
    ->Iterations(1)->Apply(Wall);
BENCHMARK_CAPTURE(BM_PerPairReference, bkld_large, kLarge)->ArgName("targets")->Arg(2)
    ->Iterations(1)->Apply(Wall);

}  // namespace
}  // namespace taskfp

int main(int argc, char** argv) {
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
