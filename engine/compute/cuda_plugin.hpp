// The boundary between taskfp and its CUDA plugin (libtaskfp_cuda.so: the kernels of kernels/
// with the CUDA runtime and cuBLAS, about 0.4 s to load): a table of the operations. The
// engine's CUDA backend (compute/cuda_backend.cpp) calls through it, loading the plugin on first
// use, so commands that never touch a GPU do not load CUDA, and a taskfp built with CUDA runs
// where the CUDA libraries are missing (compute::cuda says why no GPU is usable). The engine
// defines no taskfp::cuda functions of its own: only the plugin does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "taskfp_kernels/cuda_backend.hpp"

namespace taskfp {

inline constexpr int kCudaPluginVersion = 3;

struct CudaPlugin {
  int version = kCudaPluginVersion;
  cuda::DeviceStatus (*probe)() = nullptr;
  int (*select_device)(int local_rank) = nullptr;
  void (*gemm_abt)(const double* a, std::size_t m, const double* b, std::size_t n, std::size_t k, double* c,
                   double alpha, double beta, const cuda::GemmOptions& options) = nullptr;
  void (*histogram_counts)(const float* x, std::size_t n, std::size_t d, const float* clip_lo,
                           const float* clip_hi, const float* left, const float* right, int bins,
                           std::int64_t* counts) = nullptr;
  void (*log_softmax_rows)(const double* h, std::size_t rows, std::size_t cols, double* out) = nullptr;
  void (*kl_terms)(const ops::KlTerms& request, double* cross, double* plogp) = nullptr;
  cuda::SoftminPair* (*open_softmin_pair)(const ops::SoftminPairRequest& request) = nullptr;
  void (*softmin)(const cuda::SoftminPair* pair, ops::CostMatrix which, double eps, const double* h,
                  double* out) = nullptr;
  bool (*softmin_pair_streamed)(const cuda::SoftminPair* pair) = nullptr;
  void (*close_softmin_pair)(cuda::SoftminPair* pair) noexcept = nullptr;
};

}  // namespace taskfp

/// The plugin's one exported symbol.
extern "C" const taskfp::CudaPlugin* taskfp_cuda_plugin();
