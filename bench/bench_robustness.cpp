// What the promises of bit-stable results and safe reading cost, against what they replaced:
// - covariances summed in sample order by taskfp's own kernel (the same bits on every machine)
//   against OpenBLAS's dsyrk on its own threads (the bits of the CPU's kernel and thread count);
// - walking a fingerprint store in a child process before reading it (h5::validate_file)
//   against reading it (read_fingerprint_store), for a store of the paper's shape.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <filesystem>
#include <string>
#include <vector>

#include "fingerprint/fingerprint.hpp"
#include "io/hdf5.hpp"
#include "store/fingerprint_store.hpp"
#include "synth/synthetic.hpp"

namespace taskfp {
namespace {

constexpr std::size_t kSamples = 10000, kDim = 512;

void Repeated(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(3)->ComputeStatistics(
      "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

const FeatureSet& features(std::size_t tasks) {
  static std::map<std::size_t, FeatureSet> sets;
  auto it = sets.find(tasks);
  if (it == sets.end()) {
    SynthOptions o;
    o.families = static_cast<int>(tasks);
    o.tasks_per_family = 1;
    o.samples = static_cast<int>(kSamples);
    o.dim = static_cast<int>(kDim);
    it = sets.emplace(tasks, synthetic_features(o)).first;
  }
  return it->second;
}

// taskfp's covariance of one task of 10,000 x 512 features (all threads on the one task).
void BM_CovarianceOwnKernel(benchmark::State& state) {
  const auto& x = features(1).tasks[0].values;
  const auto mean = feature_mean(x);
  for (auto _ : state) {
    auto c = feature_covariance(x, mean);
    benchmark::DoNotOptimize(c.data.data());
  }
}
BENCHMARK(BM_CovarianceOwnKernel)->Apply(Repeated);

// The replaced path: centre in float64, then one dsyrk on OpenBLAS's own threads.
void BM_CovarianceBlasSyrk(benchmark::State& state) {
  const auto& x = features(1).tasks[0].values;
  const auto mean = feature_mean(x);
  openblas_set_num_threads(omp_get_max_threads());
  for (auto _ : state) {
    Matrix<double> centered(kSamples, kDim);
    for (std::size_t i = 0; i < kSamples; ++i)
      for (std::size_t f = 0; f < kDim; ++f) centered(i, f) = static_cast<double>(x(i, f)) - mean[f];
    Matrix<double> cov(kDim, kDim);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(kDim), static_cast<int>(kSamples),
                1.0 / static_cast<double>(kSamples - 1), centered.data.data(), static_cast<int>(kDim), 0.0,
                cov.data.data(), static_cast<int>(kDim));
    for (std::size_t a = 0; a < kDim; ++a)
      for (std::size_t b = 0; b < a; ++b) cov(a, b) = cov(b, a);
    benchmark::DoNotOptimize(cov.data.data());
  }
  openblas_set_num_threads(1);
}
BENCHMARK(BM_CovarianceBlasSyrk)->Apply(Repeated);

// A fingerprint store of 127 tasks (100 and 1000 bins, means, covariances), written once.
struct Store {
  std::string path;
  Store() {
    const char* base = std::getenv("TASKFP_BENCH_TMP");
    path = (std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
            ("taskfp-bench-fp-" + std::to_string(::getpid()) + ".h5"))
               .string();
    SynthOptions o;
    o.families = 127;
    o.tasks_per_family = 1;
    o.samples = 2000;  // the store's size does not depend on the samples
    o.dim = static_cast<int>(kDim);
    const auto set = synthetic_features(o);
    FingerprintOptions fo;
    fo.bins = {100, 1000};
    write_fingerprint_store(path, fingerprint(set, compute_ranges(set, set.names()), fo));
  }
  ~Store() { std::filesystem::remove(path); }
};
const Store& store() {
  static const Store s;
  return s;
}

// Changes the file's time stamp: validate_file checks a file once per process and version of it.
void touch(const std::string& path) {
  const timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  utimensat(AT_FDCWD, path.c_str(), now, 0);
}

void BM_ReadFingerprintStore(benchmark::State& state) {
  const auto& path = store().path;
  h5::validate_file(path);  // checked once before: this is the read alone
  for (auto _ : state) {
    auto set = read_fingerprint_store(path);
    benchmark::DoNotOptimize(set.tasks.data());
  }
  state.counters["MB"] = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
}
BENCHMARK(BM_ReadFingerprintStore)->Apply(Repeated);

void BM_ValidateFingerprintStore(benchmark::State& state) {
  const auto& path = store().path;
  for (auto _ : state) {
    state.PauseTiming();
    touch(path);
    state.ResumeTiming();
    h5::validate_file(path);
  }
}
BENCHMARK(BM_ValidateFingerprintStore)->Apply(Repeated);

}  // namespace
}  // namespace taskfp

BENCHMARK_MAIN();
