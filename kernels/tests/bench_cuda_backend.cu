// Benchmark of the CUDA backend: the device's own float64 GEMM rate (operands on the device,
// CUDA events) as the ceiling, then the backend's host-to-host bKLD-shaped GEMMs and the whole
// bKLD terms (kl_terms: uploads, preprocessing, tiling included) as a fraction of it.
// `--scale` adds 10,000 x 10,000 tasks (41 GB of host memory at b = 1000). Prints a table;
// exit 0 without a device (says so).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "taskfp_kernels/cuda_backend.hpp"

using namespace taskfp::cuda;

static double device_dgemm_gflops(int m, int n, int k) {
  double *a, *b, *c;
  cudaMalloc(&a, sizeof(double) * static_cast<size_t>(m) * k);
  cudaMalloc(&b, sizeof(double) * static_cast<size_t>(n) * k);
  cudaMalloc(&c, sizeof(double) * static_cast<size_t>(m) * n);
  cudaMemset(a, 0, sizeof(double) * static_cast<size_t>(m) * k);
  cudaMemset(b, 0, sizeof(double) * static_cast<size_t>(n) * k);
  cublasHandle_t h;
  cublasCreate(&h);
  cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH);
  const double one = 1, zero = 0;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, b, k, a, k, &zero, c, n);  // warm-up
  cudaEventRecord(start);
  const int reps = 5;
  for (int r = 0; r < reps; ++r) cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, b, k, a, k, &zero, c, n);
  cudaEventRecord(stop);
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cublasDestroy(h);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  return 2.0 * m * n * static_cast<double>(k) * reps / (ms * 1e-3) / 1e9;
}

// bKLD (small: L1 targets, softmax sources, target weights) for tasks x tasks at d = 512 through
// kl_terms: raw histograms uploaded, preprocessed, weighted and multiplied on the device.
static void bench_kl_terms(int tasks, int bins, double dgemm_rate) {
  const std::size_t rows = 512, ne = rows * static_cast<std::size_t>(bins);
  std::vector<double> h(static_cast<std::size_t>(tasks) * ne);
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<double>((i * 2654435761u) % 1000) / 1000.0;
  std::vector<const double*> ptr(static_cast<std::size_t>(tasks));
  for (int t = 0; t < tasks; ++t) ptr[static_cast<std::size_t>(t)] = h.data() + static_cast<std::size_t>(t) * ne;
  std::vector<double> w(static_cast<std::size_t>(tasks) * rows, 1.0 / rows);
  KlTerms r;
  r.na = r.nb = static_cast<std::size_t>(tasks);
  r.rows = rows;
  r.cols = static_cast<std::size_t>(bins);
  r.a = r.b = ptr.data();
  r.a_prep = RowPrep::L1;
  r.b_prep = RowPrep::Softmax;
  r.wa = w.data();
  std::vector<double> cross(static_cast<std::size_t>(tasks) * tasks), plogp(static_cast<std::size_t>(tasks) * rows);
  auto t0 = std::chrono::steady_clock::now();
  kl_terms(r, cross.data(), plogp.data());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double achieved = 2.0 * tasks * static_cast<double>(tasks) * ne / secs / 1e9;
  std::printf("%-44s %12.3f %12.0f  (%.0f%% of device DGEMM)\n",
              ("bKLD kl_terms " + std::to_string(tasks) + "^2 tasks, b=" + std::to_string(bins)).c_str(), secs,
              achieved, 100.0 * achieved / dgemm_rate);
}

// Fingerprint histograms of 127 tasks x 10,000 x 512 float32 features into `bins` bins (uploads
// included), as `taskfp fingerprint --backend cuda` counts them.
static void bench_histograms(int bins) {
  const std::size_t n = 10000, d = 512;
  std::vector<float> x(n * d), lo(d, -1.0f), hi(d, 1.0f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
  std::vector<std::int64_t> counts(d * static_cast<std::size_t>(bins));
  histogram_counts(x.data(), n, d, lo.data(), hi.data(), lo.data(), hi.data(), bins, counts.data());  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < 127; ++t)
    histogram_counts(x.data(), n, d, lo.data(), hi.data(), lo.data(), hi.data(), bins, counts.data());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-44s %12.3f %12s\n", ("histograms 127 x 10,000 x 512, b=" + std::to_string(bins)).c_str(), secs, "-");
}

int main(int argc, char** argv) {
  const bool scale = argc > 1 && std::string(argv[1]) == "--scale";
  auto status = probe();
  std::printf("device: %s\n", status.description.c_str());
  if (!status.usable) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  std::printf("%-44s %12s %12s\n", "measurement", "seconds", "GFLOP/s");
  const int tasks[] = {2048};
  for (int t : tasks)
    for (int bins : {100, 1000}) {
      const int k = 512 * bins;
      const double rate = device_dgemm_gflops(t, t, k);
      std::printf("%-44s %12s %12.0f\n", ("device DGEMM " + std::to_string(t) + "^2 x " + std::to_string(k)).c_str(),
                  "-", rate);
      std::vector<double> a(static_cast<size_t>(t) * k, 0.25), b(static_cast<size_t>(t) * k, 0.5),
          c(static_cast<size_t>(t) * t);
      auto t0 = std::chrono::steady_clock::now();
      gemm_abt(a.data(), t, b.data(), t, k, c.data(), 1.0, 0.0);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double achieved = 2.0 * t * static_cast<double>(t) * k / secs / 1e9;
      std::printf("%-44s %12.3f %12.0f  (%.0f%% of device DGEMM)\n",
                  ("gemm_abt host-to-host " + std::to_string(t) + " tasks, b=" + std::to_string(bins)).c_str(), secs,
                  achieved, 100.0 * achieved / rate);
      bench_kl_terms(t, bins, rate);
      bench_kl_terms(127, bins, rate);  // the paper's task count
      // The issue's scale: 10,000 x 10,000 tasks (b = 1000 is tiled through device memory).
      if (scale) bench_kl_terms(10000, bins, rate);
    }
  for (int bins : {100, 1000}) bench_histograms(bins);
  return 0;
}
