// Extraction on CPU: the backbone's pure inference rate (ResNet34, a preprocessed batch in
// memory; fp32 and bf16 autocast) and the whole pipeline (decode, preprocess, inference, overlapped) on the procedural
// images of the task sets TASKFP_BENCH_TASKSET and TASKFP_BENCH_TASKSET_LARGE (scripts/bench.sh
// makes them with synth-images).
// bench/reference_extract.py is the PyTorch baseline. Counters: images per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "extract/backbone.hpp"
#include "extract/extract.hpp"
#include "images/image_taskset.hpp"

namespace taskfp {
namespace {

constexpr int kSize = 256, kBatch = 32;

Backbone& net(const std::string& precision = "fp32") {
  static std::map<std::string, std::unique_ptr<Backbone>> nets;
  auto& n = nets[precision];
  if (!n) {
    BackboneOptions o;
    o.device = "cpu";
    o.precision = precision;
    n = make_resnet34("", 0, o);
  }
  return *n;
}

void inference(benchmark::State& state, const std::string& precision) {
  // Values like normalised images (a constant input drives activations into subnormal floats,
  // which are much slower and not what images do).
  std::vector<float> batch(static_cast<std::size_t>(kBatch) * 3 * kSize * kSize);
  std::uint64_t s = 1;
  for (auto& v : batch) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<float>(s >> 40) / static_cast<float>(1 << 24) * 4.0f - 2.0f;
  }
  net(precision).forward(batch.data(), kBatch, kSize);  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(net(precision).forward(batch.data(), kBatch, kSize).data());
  state.counters["images_per_s"] = benchmark::Counter(kBatch, benchmark::Counter::kIsIterationInvariantRate);
}
void BM_Inference(benchmark::State& state) { inference(state, "fp32"); }
void BM_InferenceBf16(benchmark::State& state) { inference(state, "bf16"); }
BENCHMARK(BM_Inference)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10);
BENCHMARK(BM_InferenceBf16)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10);

// No inference at all: the pipeline's decode and preprocessing rate alone.
class NoBackbone : public Backbone {
 public:
  const BackboneInfo& info() const override { return info_; }
  std::vector<float> forward(const float*, std::size_t n, int) override { return std::vector<float>(n, 0.0f); }

 private:
  BackboneInfo info_;
};

void pipeline(benchmark::State& state, const char* variable, Backbone& backbone = net()) {
  const char* taskset = std::getenv(variable);
  if (!taskset) {
    state.SkipWithError((std::string("set ") + variable +
                         " to an image task set (e.g. from `taskfp synth-images`)").c_str());
    return;
  }
  const auto tasks = read_image_taskset(taskset);
  ExtractOptions o;
  o.samples = static_cast<std::size_t>(state.range(0)) / tasks.size();
  o.batch = kBatch;
  o.preprocess.size = kSize;
  {  // warm-up outside the timing: one full batch (the tensor pool, oneDNN's kernels)
    const std::vector<float> zeros(static_cast<std::size_t>(kBatch) * 3 * kSize * kSize, 0.0f);
    backbone.forward(zeros.data(), kBatch, kSize);
  }
  std::size_t images = 0;
  for (auto _ : state) {
    ExtractReport rep;
    auto f = extract_features(tasks, backbone, o, &rep);
    benchmark::DoNotOptimize(f.tasks.data());
    images += rep.images;
  }
  state.counters["images_per_s"] = benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
}
// Small images (40-88 pixels, TASKFP_BENCH_TASKSET) and large ones (320-720 pixels, whose
// decoding and downscaling cost more: TASKFP_BENCH_TASKSET_LARGE).
void BM_Pipeline(benchmark::State& state) { pipeline(state, "TASKFP_BENCH_TASKSET"); }
void BM_PipelineLarge(benchmark::State& state) { pipeline(state, "TASKFP_BENCH_TASKSET_LARGE"); }
BENCHMARK(BM_Pipeline)->Arg(576)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_PipelineLarge)->Arg(288)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
void BM_DecodeOnlyLarge(benchmark::State& state) {
  NoBackbone none;
  pipeline(state, "TASKFP_BENCH_TASKSET_LARGE", none);
}
BENCHMARK(BM_DecodeOnlyLarge)->Arg(288)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace taskfp

BENCHMARK_MAIN();
