// Fingerprint stage at the paper's scale: quantile ranges over 28 x 10,000 x 512 features,
// histograms of 127 x 10,000 x 512 into 100 and 1000 bins, against reading the same features
// from disk (page cache dropped per file with posix_fadvise, so reads are cold).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "fingerprint/fingerprint.hpp"
#include "io/npy.hpp"
#include "synth/synthetic.hpp"

namespace taskfp {
namespace {

const FeatureSet& features() {
  static const FeatureSet set = [] {
    SynthOptions o;
    o.families = 127;
    o.tasks_per_family = 1;
    o.samples = 10000;
    o.dim = 512;
    return synthetic_features(o);
  }();
  return set;
}

std::vector<std::string> first_names(std::size_t n) {
  auto all = features().names();
  return {all.begin(), all.begin() + static_cast<long>(n)};
}

void BM_Ranges28Tasks(benchmark::State& state) {
  const auto subset = first_names(28);
  for (auto _ : state) {
    auto r = compute_ranges(features(), subset);
    benchmark::DoNotOptimize(r.lo.data());
  }
  state.counters["values"] = 28.0 * 10000 * 512;
}
BENCHMARK(BM_Ranges28Tasks)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_Histograms127Tasks(benchmark::State& state) {
  static const BinRanges ranges = compute_ranges(features(), first_names(28));
  const int bins = static_cast<int>(state.range(0));
  for (auto _ : state)
    for (const auto& t : features().tasks) {
      auto h = histogram(t.values, ranges, bins);
      benchmark::DoNotOptimize(h.data.data());
    }
  state.counters["values"] = 127.0 * 10000 * 512;
}
BENCHMARK(BM_Histograms127Tasks)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_ReadFeatures127TasksCold(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / "taskfp-bench-features";
  std::filesystem::create_directories(dir);
  std::vector<std::string> files;
  for (const auto& t : features().tasks) {
    files.push_back((dir / (t.name + ".npy")).string());
    if (!std::filesystem::exists(files.back())) write_npy_matrix(files.back(), t.values);
  }
  for (auto _ : state) {
    state.PauseTiming();
    for (const auto& f : files) {
      int fd = ::open(f.c_str(), O_RDONLY);
      ::fdatasync(fd);
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
    state.ResumeTiming();
    for (const auto& f : files) {
      auto m = read_npy_matrix(f);
      benchmark::DoNotOptimize(m.data.data());
    }
  }
  state.counters["bytes"] = 127.0 * 10000 * 512 * 4;
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReadFeatures127TasksCold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
}  // namespace taskfp

BENCHMARK_MAIN();
