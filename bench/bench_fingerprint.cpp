// Fingerprint stage at the paper's scale: quantile ranges over 28 x 10,000 x 512 features and
// histograms of 127 x 10,000 x 512 into 100 and 1000 bins, against reading the same float32
// features from disk (cold: each file's page cache dropped first; warm: from the page cache).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "fingerprint/fingerprint.hpp"
#include "io/npy.hpp"
#include "store/features_store.hpp"
#include "synth/synthetic.hpp"

namespace taskfp {
namespace {

constexpr std::size_t kTasks = 127, kScaling = 28, kSamples = 10000, kDim = 512;
constexpr double kTaskBytes = 4.0 * kSamples * kDim;  // float32 features of one task

void Repeated(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(3)->ComputeStatistics(
      "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

// 127 synthetic tasks (pooled-ReLU-like: non-negative, a quarter of the features mostly zero).
const FeatureSet& features() {
  static const FeatureSet set = [] {
    SynthOptions o;
    o.families = static_cast<int>(kTasks);
    o.tasks_per_family = 1;
    o.samples = static_cast<int>(kSamples);
    o.dim = static_cast<int>(kDim);
    return synthetic_features(o);
  }();
  return set;
}

std::vector<std::string> first_names(std::size_t n) {
  auto all = features().names();
  all.resize(n);
  return all;
}

const BinRanges& ranges() {
  static const BinRanges r = compute_ranges(features(), first_names(kScaling));
  return r;
}

void BM_Ranges28Tasks(benchmark::State& state) {
  const auto subset = first_names(kScaling);
  for (auto _ : state) {
    auto r = compute_ranges(features(), subset);
    benchmark::DoNotOptimize(r.lo.data());
  }
  state.counters["bytes"] = kScaling * kTaskBytes;
}
BENCHMARK(BM_Ranges28Tasks)->Apply(Repeated);

// What fingerprint() does for the histograms: each task's d x b histogram, one task at a time
// (the features of a task are split across threads).
void BM_Histograms127Tasks(benchmark::State& state) {
  const int bins = static_cast<int>(state.range(0));
  ranges();
  for (auto _ : state)
    for (const auto& t : features().tasks) {
      auto h = histogram(t.values, ranges(), bins);
      benchmark::DoNotOptimize(h.data.data());
    }
  state.counters["bytes"] = kTasks * kTaskBytes;
}
BENCHMARK(BM_Histograms127Tasks)->ArgName("bins")->Arg(100)->Arg(1000)->Apply(Repeated);

// The features on disk, once per run: one .npy per task (the paper's layout) and one HDF5
// features store. Removed at exit. TASKFP_BENCH_TMP sets the folder (default: the temp folder).
struct FeatureFiles {
  std::filesystem::path dir;
  std::vector<std::string> npy;
  std::string store;
  FeatureFiles() {
    const char* base = std::getenv("TASKFP_BENCH_TMP");
    dir = std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
          ("taskfp-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (const auto& t : features().tasks) {
      npy.push_back((dir / (t.name + ".npy")).string());
      write_npy_matrix(npy.back(), t.values);
    }
    store = (dir / "features.h5").string();
    write_features_store(store, features());
  }
  ~FeatureFiles() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};
const FeatureFiles& files() {
  static const FeatureFiles f;
  return f;
}

// Writes back and drops a file's pages from the page cache; returns the share of its pages still
// resident afterwards (mincore), so that "cold" is checked rather than assumed. A virtual disk
// may still be cached by the host, which no guest can see or drop.
double drop_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return 1.0;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  const auto size = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
  double resident = 0.0;
  if (void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0); m != MAP_FAILED) {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> in((size + page - 1) / page);
    if (::mincore(m, size, in.data()) == 0) {
      const auto pages = std::count_if(in.begin(), in.end(), [](unsigned char c) { return c & 1; });
      resident = static_cast<double>(pages) / static_cast<double>(in.size());
    }
    ::munmap(m, size);
  }
  ::close(fd);
  return resident;
}

double drop_all(const std::vector<std::string>& paths) {
  double resident = 0.0;
  for (const auto& p : paths) resident += drop_cache(p);
  return resident / static_cast<double>(paths.size());
}

// Plain read() of the first `tasks` .npy files into one reused buffer: the I/O alone.
// Arg 1: cold (page cache dropped before each pass), 0: warm.
void BM_ReadRaw(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const bool cold = state.range(1) == 1;
  const std::vector<std::string> paths(files().npy.begin(),
                                       files().npy.begin() + static_cast<long>(n));
  std::vector<char> buffer(std::filesystem::file_size(paths.front()), 1);
  double bytes = 0, resident = 0;
  if (!cold)  // warm the cache
    for (const auto& p : paths) {
      const int fd = ::open(p.c_str(), O_RDONLY);
      while (::read(fd, buffer.data(), buffer.size()) > 0) {
      }
      ::close(fd);
    }
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      resident = drop_all(paths);
      state.ResumeTiming();
    }
    bytes = 0;
    for (const auto& p : paths) {
      const int fd = ::open(p.c_str(), O_RDONLY);
      for (ssize_t got; (got = ::read(fd, buffer.data(), buffer.size())) > 0;)
        bytes += static_cast<double>(got);
      ::close(fd);
    }
    benchmark::DoNotOptimize(buffer.data());
  }
  state.counters["bytes"] = bytes;
  state.counters["MB/s"] =
      benchmark::Counter(bytes / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  if (cold) state.counters["resident_after_drop"] = resident;
}
BENCHMARK(BM_ReadRaw)->ArgNames({"tasks", "cold"})->Args({28, 1})->Args({127, 1})->Args({127, 0})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1)->Repetitions(2);

// What taskfp's loaders do, cold: every .npy into a new matrix (import_npy_folder's reader), or
// the HDF5 store in one call (allocation and validation included).
void BM_ReadNpyCold(benchmark::State& state) {
  const auto& paths = files().npy;
  for (auto _ : state) {
    state.PauseTiming();
    drop_all(paths);
    state.ResumeTiming();
    for (const auto& p : paths) {
      auto m = read_npy_matrix(p);
      benchmark::DoNotOptimize(m.data.data());
    }
  }
  state.counters["bytes"] = kTasks * kTaskBytes;
}
BENCHMARK(BM_ReadNpyCold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

void BM_ReadStoreCold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    drop_cache(files().store);
    state.ResumeTiming();
    auto set = read_features_store(files().store);
    benchmark::DoNotOptimize(set.tasks.data());
  }
  state.counters["bytes"] = kTasks * kTaskBytes;
}
BENCHMARK(BM_ReadStoreCold)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace taskfp

BENCHMARK_MAIN();
